package replaylog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/lockstep-rt/lockstep/host/replaylog"
)

func Example() {
	var file bytes.Buffer // an *os.File in agenthost

	w, err := replaylog.NewWriter(&file, &replaylog.Header{Seed: 42, CreatedBy: "example"})
	if err != nil {
		panic(err)
	}
	records := []*replaylog.Record{
		{Kind: &replaylog.Record_Command{Command: &replaylog.Command{
			Tick: 0, Op: &replaylog.Command_Spawn{Spawn: &replaylog.Spawn{Id: "counter", Kind: "counter"}},
		}}},
		{Kind: &replaylog.Record_Tick{Tick: &replaylog.TickDigest{
			Tick: 0, Digest: make([]byte, 32), AgentDigests: []uint64{7}, Agents: []string{"counter"},
		}}},
		{Kind: &replaylog.Record_End{End: &replaylog.End{Ticks: 1, Reason: "done"}}},
	}
	for _, rec := range records {
		if err := w.Append(rec); err != nil {
			panic(err)
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}

	// Pretend the machine crashed while writing the End record.
	torn := file.Bytes()[:file.Len()-6]

	r, err := replaylog.NewReader(bytes.NewReader(torn))
	if err != nil {
		panic(err)
	}
	fmt.Println("seed", r.Header().GetSeed(), "format", r.Header().GetFormatVersion())
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var ce *replaylog.CorruptError
		if errors.As(err, &ce) {
			fmt.Println("torn:", ce.Torn, "keep", ce.Offset, "bytes")
			fmt.Println(err)
			break
		}
		switch k := rec.Kind.(type) {
		case *replaylog.Record_Command:
			fmt.Println("command before tick", k.Command.GetTick(), "spawn", k.Command.GetSpawn().GetId())
		case *replaylog.Record_Tick:
			fmt.Println("tick", k.Tick.GetTick(), "agents", k.Tick.GetAgents())
		}
	}
	// Output:
	// seed 42 format 1
	// command before tick 0 spawn counter
	// tick 0 agents [counter]
	// torn: true keep 113 bytes
	// replaylog: corrupt log at byte 113 (record 2): the file ends inside the payload, after 8 of 10 bytes; everything before byte 113 is intact — truncate the file there (truncate -s 113 FILE) or re-record
}
