package plugin_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// FuzzVersionRequirement matches arbitrary versions against arbitrary
// requirements. Nothing may panic, every error must say something, and
// what parses must be consistent: a version meets the pins and ranges that
// start at it and not those that exclude it, build metadata never matters,
// a requirement means the same joined with itself, and Policy.Validate
// agrees with MatchVersion about which requirements parse. Regressions are
// in testdata/fuzz/FuzzVersionRequirement, named after what they broke.
func FuzzVersionRequirement(f *testing.F) {
	// The requirements and versions of version_test.go, the README and the
	// package documentation.
	for _, s := range [][2]string{
		{"1.2.0", "1.2.0"}, {"=1.2.0", "1.2.0+build.5"}, {"1.2", "1.2.99"}, {"1.2.x", "1.2.7"}, {"1", "1.99.0"}, {"*", "1.0.0-alpha"},
		{"^1.2", "2.0.0-rc.1"}, {"^1.2.3", "1.3.0"}, {"^0.2.3", "0.2.9"}, {"^0.0.3", "0.0.4"}, {"^0.0", "0.0.9"}, {"^0", "0.9.9"},
		{"^1.2.3-beta.2", "1.2.3-beta.10"}, {"~1.2.3", "1.2.9"}, {"~1.2", "1.3.0"}, {"~1", "2.0.0"},
		{">=1.0.0 <2.0.0", "1.9.9"}, {">=1.0.0, <2.0.0", "2.0.0"}, {">= 1.0.0 < 2.0.0", "1.5.0"}, {">1.2", "1.3.0"}, {">1.2.3", "1.2.4"},
		{"<=1.2", "1.2.9"}, {"<=1.2.3", "1.2.4"}, {"<1.2", "1.1.9"}, {">1", "2.0.0"}, {"^1.0 || ^3.0", "3.1.0"},
		{">=1.0.0-rc.1 <1.0.0", "1.0.0-rc.2"}, {"1.0.0-alpha.1", "1.0.0-alpha.beta"}, {"0.1.0-rc.1+build.7", "0.1.0-rc.1+build.7"},
		{"~>1.2", "99999999999999999999.0.0"}, {"1.x.3", "1.2.3.4"}, {"|| 1.0.0", "01.2.3"}, {"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, req, ver string) {
		match := func(r, v string) (bool, error) {
			t.Helper()
			ok, err := plugin.MatchVersion(r, v)
			if err != nil && (err.Error() == "" || strings.Contains(strings.ToLower(err.Error()), "panic")) {
				t.Fatalf("MatchVersion(%q, %q): error %q", r, v, err)
			}
			return ok, err
		}
		mustMatch := func(r, v string, want bool) {
			t.Helper()
			if ok, err := match(r, v); err != nil || ok != want {
				t.Fatalf("MatchVersion(%q, %q) = %v, %v; want %v", r, v, ok, err, want)
			}
		}
		_, reqErr := match(req, "1.0.0")
		// Policy.Version "" means no requirement.
		if verr := (plugin.Policy{Version: req}).Validate(); (verr == nil) != (reqErr == nil || req == "") {
			t.Fatalf("requirement %q: Validate says %v, MatchVersion %v", req, verr, reqErr)
		}
		_, verErr := match("*", ver)
		if verErr == nil {
			core, _, _ := strings.Cut(ver, "+")
			hasPre := strings.Contains(core, "-")
			// A version meets the comparators that start at it...
			for _, op := range []string{"", "=", ">=", "<=", "^", "~"} {
				mustMatch(op+ver, ver, true)
				mustMatch(op+" "+ver, ver, true)
			}
			// ...and not those that exclude it.
			mustMatch(">"+ver, ver, false)
			mustMatch("<"+ver, ver, false)
			mustMatch("*", ver, !hasPre)
			// Build metadata does not count.
			if reqErr == nil {
				a, _ := match(req, ver)
				b, _ := match(req, core)
				if a != b {
					t.Fatalf("%q: %s %v, %s %v", req, ver, a, core, b)
				}
			}
			// Partial versions: 1 and 1.2 (also ^, ~, .x) cover 1.2.3.
			if !hasPre {
				nums := strings.Split(core, ".")
				for _, r := range []string{nums[0], nums[0] + ".x", nums[0] + "." + nums[1], nums[0] + "." + nums[1] + ".*",
					"~" + nums[0], "~" + nums[0] + "." + nums[1], ">=" + nums[0], "<=" + nums[0] + "." + nums[1]} {
					mustMatch(r, ver, true)
				}
				if nums[0] != "0" {
					mustMatch("^"+nums[0]+"."+nums[1], ver, true)
				}
				// ...and end below the next minor (major) version.
				major, _ := strconv.ParseUint(nums[0], 10, 64)
				minor, _ := strconv.ParseUint(nums[1], 10, 64)
				if minor < math.MaxUint64 {
					nextMinor := fmt.Sprintf("%d.%d.0", major, minor+1)
					for _, r := range []string{nums[0] + "." + nums[1], "~" + ver, "~" + nums[0] + "." + nums[1], "<=" + nums[0] + "." + nums[1]} {
						mustMatch(r, nextMinor, false)
					}
				}
				if major < math.MaxUint64 && major > 0 {
					nextMajor := fmt.Sprintf("%d.0.0", major+1)
					for _, r := range []string{nums[0], "^" + ver, "^" + nums[0] + "." + nums[1], "~" + nums[0]} {
						mustMatch(r, nextMajor, false)
					}
				}
			}
		}
		if reqErr != nil {
			return
		}
		if verErr == nil {
			// A requirement means the same joined with itself.
			want, _ := match(req, ver)
			mustMatch(req+" || "+req, ver, want)
			if !strings.Contains(req, "||") {
				mustMatch(req+" "+req, ver, want)
			}
		}
		// A requirement that is a version (with an operator) orders the two:
		// without pre-releases, exactly one of <, = and > holds.
		if verErr == nil && !strings.Contains(ver, "-") {
			if _, err := match("*", req); err == nil && !strings.Contains(req, "-") {
				lt, _ := match("<"+req, ver)
				eq, _ := match("="+req, ver)
				gt, _ := match(">"+req, ver)
				if n := btoi(lt) + btoi(eq) + btoi(gt); n != 1 {
					t.Fatalf("%s against %s: <%v =%v >%v", ver, req, lt, eq, gt)
				}
				le, _ := match("<="+req, ver)
				ge, _ := match(">="+req, ver)
				if le != (lt || eq) || ge != (gt || eq) {
					t.Fatalf("%s against %s: <=%v >=%v, <%v =%v >%v", ver, req, le, ge, lt, eq, gt)
				}
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
