package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// The report encoding, one report after another:
//
//	slot        uvarint  the agent's index in the tick's plan
//	failed      byte     0 or 1
//	failed:     reason string, trace string
//	otherwise:  digest (8 bytes, little-endian), fuel uvarint,
//	            actions uvarint, then per action: kind byte, target string,
//	            payload bytes, level byte, version string
//
// A string or bytes field is a uvarint length and its bytes.

// AppendReport appends slot's report to b.
func AppendReport(b []byte, slot int, r *engine.Report) []byte {
	b = binary.AppendUvarint(b, uint64(slot))
	if r.Failed {
		b = append(b, 1)
		b = appendBytes(b, r.Reason)
		return appendBytes(b, r.Trace)
	}
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint64(b, r.Digest)
	b = binary.AppendUvarint(b, r.Fuel)
	b = binary.AppendUvarint(b, uint64(len(r.Actions)))
	for i := range r.Actions {
		a := &r.Actions[i]
		b = append(b, byte(a.Kind))
		b = appendBytes(b, a.Target)
		b = appendBytes(b, a.Payload)
		b = append(b, byte(a.Level))
		b = appendBytes(b, a.Version)
	}
	return b
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ErrCorrupt is wrapped by the errors of ReadReports.
var ErrCorrupt = errors.New("wire: corrupt reports")

// ReadReports calls visit with each report encoded in b, in order. The
// reports' payloads share b's storage. It stops at the first malformed
// byte, naming its offset, or at visit's first error. slots bounds the slot
// numbers.
func ReadReports(b []byte, slots int, visit func(slot int, r engine.Report) error) error {
	d := decoder{b: b}
	for len(d.b) > d.off {
		start := d.off
		slot := d.uvarint()
		var r engine.Report
		switch d.byte() {
		case 0:
			r.Digest = d.uint64()
			r.Fuel = d.uvarint()
			n := d.uvarint()
			// Each action takes at least 5 bytes: no count the input
			// cannot hold is believed.
			if n > uint64(len(d.b)-d.off)/5 {
				d.fail("an action count of %d", n)
			}
			if d.err == nil && n > 0 {
				r.Actions = make([]engine.Action, n)
			}
			for i := range r.Actions {
				if d.err != nil {
					break
				}
				a := &r.Actions[i]
				a.Kind = engine.ActionKind(d.byte())
				a.Target = string(d.bytes())
				a.Payload = d.bytes()
				a.Level = agent.Level(d.byte())
				a.Version = string(d.bytes())
			}
		case 1:
			r.Failed = true
			r.Reason = string(d.bytes())
			r.Trace = string(d.bytes())
		default:
			d.fail("a report flag of %d", d.b[d.off-1])
		}
		if d.err == nil && slot >= uint64(slots) {
			d.fail("slot %d of a tick of %d agents", slot, slots)
		}
		if d.err != nil {
			return fmt.Errorf("%w: the report at byte %d: %w", ErrCorrupt, start, d.err)
		}
		if err := visit(int(slot), r); err != nil {
			return err
		}
	}
	return nil
}

// decoder reads the encoding; after the first error every read returns
// zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: "+format, append([]any{d.off}, args...)...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("a malformed or truncated varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 8 {
		d.fail("truncated")
		return 0
	}
	d.off += 8
	return binary.LittleEndian.Uint64(d.b[d.off-8:])
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("a length of %d with %d bytes left", n, len(d.b)-d.off)
		return nil
	}
	if n == 0 {
		return nil // as an outbox keeps an empty payload
	}
	d.off += int(n)
	return d.b[d.off-int(n) : d.off : d.off]
}
