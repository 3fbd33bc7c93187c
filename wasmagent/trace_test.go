package wasmagent

import "testing"

func TestStackTraceText(t *testing.T) {
	text := "wasm error: unreachable\nwasm stack trace:\n\t.$3(i32)\n\t\t0x2a: /src/a.c:3:1\n\t._ZN8panicker8Panicker4pick17hd8c5c6f3f4b2dd12E(i32) i32\n" +
		"\tlockstep.log(i32,i32,i32)\n\t.deep(i32) i32\n\t.deep(i32) i32\n\t.$9(i32) i32\n\t... maybe followed by omitted frames\n\nGo runtime stack trace:\ngoroutine 1"
	want := "agent_alloc(i32)\npanicker::Panicker::pick(i32) i32\nlockstep.log(i32,i32,i32)\ndeep(i32) i32 (2 times)\n$9(i32) i32\n... maybe followed by omitted frames"
	if got := stackTrace(text, map[uint32]string{3: "agent_alloc"}); got != want {
		t.Errorf("stackTrace =\n%s\nwant\n%s", got, want)
	}
	if got := stackTrace("wasm error: unreachable", nil); got != "" {
		t.Errorf("no trace: %q", got)
	}
}

func TestDemangleRust(t *testing.T) {
	for in, want := range map[string]string{
		"_ZN8panicker8Panicker4pick17hd8c5c6f3f4b2dd12E":                                      "panicker::Panicker::pick",
		"_ZN44_$LT$$RF$T$u20$as$u20$core..fmt..Display$GT$3fmt17h41330ebac9958d90E":           "<&T as core::fmt::Display>::fmt",
		"_ZN4core3ops8function6FnOnce9call_once17h8c21c56fd1e61b3bE.llvm.4784807839711558818": "core::ops::function::FnOnce::call_once",
		"agent_step":     "agent_step",
		"_ZN3foo3barEv":  "_ZN3foo3barEv", // C++, not Rust: as it is
		"_ZN99fooE":      "_ZN99fooE",
		"_ZN3fooE.llvm.": "foo",
	} {
		if got := demangleRust(in); got != want {
			t.Errorf("demangleRust(%q) = %q, want %q", in, got, want)
		}
	}
}
