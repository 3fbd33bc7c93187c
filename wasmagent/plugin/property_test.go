package plugin_test

import (
	"errors"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// TestEveryByteIsCovered flips every bit of every byte of a signed module,
// and also sets each byte to its complement: Verify must reject every
// variant, whatever the policy's grants, with a *plugin.Error.
func TestEveryByteIsCovered(t *testing.T) {
	key := testKey(t, 1)
	signed := mustSign(t, sendLog(), manifest("messaging.send", "log"), key)
	p := policy(allCaps, key)
	if _, err := plugin.Verify(signed, p); err != nil {
		t.Fatal(err)
	}
	counts := map[error]int{}
	sentinels := []error{plugin.ErrUnsigned, plugin.ErrBadSignature, plugin.ErrUntrustedKey, plugin.ErrDigestMismatch,
		plugin.ErrABIMismatch, plugin.ErrVersion, plugin.ErrUndeclaredImport, plugin.ErrNotGranted, plugin.ErrMalformed}
	variant := make([]byte, len(signed))
	for off := range signed {
		for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff} {
			copy(variant, signed)
			variant[off] ^= mask
			m, err := plugin.Verify(variant, p)
			if err == nil {
				t.Fatalf("byte %d ^ %#02x: accepted %+v", off, mask, m)
			}
			var pe *plugin.Error
			if !errors.As(err, &pe) {
				t.Fatalf("byte %d ^ %#02x: %v is not a *plugin.Error", off, mask, err)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					counts[s]++
				}
			}
		}
	}
	t.Logf("%d bytes x 9 patterns: %v", len(signed), counts)

	// Cutting the module short, or inserting a byte anywhere, fails too.
	for n := range len(signed) {
		if _, err := plugin.Verify(signed[:n], p); err == nil {
			t.Fatalf("the first %d bytes were accepted", n)
		}
	}
	for off := range len(signed) + 1 {
		for _, b := range []byte{0x00, 0x80} {
			grown := append(append(append([]byte(nil), signed[:off]...), b), signed[off:]...)
			if _, err := plugin.Verify(grown, p); err == nil {
				t.Fatalf("inserting %#02x at byte %d was accepted", b, off)
			}
		}
	}
}
