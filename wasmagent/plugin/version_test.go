package plugin_test

import (
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

func TestMatchVersion(t *testing.T) {
	cases := []struct {
		req string
		yes []string
		no  []string
	}{
		{"1.2.0", []string{"1.2.0", "1.2.0+build.5"}, []string{"1.2.1", "1.1.9", "1.2.0-rc.1"}},
		{"=1.2.0", []string{"1.2.0"}, []string{"1.2.1"}},
		{"1.2", []string{"1.2.0", "1.2.99"}, []string{"1.3.0", "1.1.0", "1.2.5-rc.1"}},
		{"1.2.x", []string{"1.2.0", "1.2.7"}, []string{"1.3.0"}},
		{"1", []string{"1.0.0", "1.99.0"}, []string{"2.0.0", "0.9.0"}},
		{"*", []string{"0.0.0", "9.9.9"}, []string{"1.0.0-alpha"}},
		{"^1.2", []string{"1.2.0", "1.9.9"}, []string{"1.1.9", "2.0.0", "2.0.0-rc.1", "1.5.0-beta"}},
		{"^1.2.3", []string{"1.2.3", "1.3.0"}, []string{"1.2.2", "2.0.0"}},
		{"^0.2.3", []string{"0.2.3", "0.2.9"}, []string{"0.3.0", "0.2.2"}},
		{"^0.0.3", []string{"0.0.3"}, []string{"0.0.4", "0.0.2"}},
		{"^0.0", []string{"0.0.0", "0.0.9"}, []string{"0.1.0"}},
		{"^0", []string{"0.0.0", "0.9.9"}, []string{"1.0.0"}},
		{"^1.2.3-beta.2", []string{"1.2.3-beta.2", "1.2.3-beta.10", "1.2.3", "1.4.0"}, []string{"1.2.3-beta.1", "1.2.4-beta.1", "1.2.3-alpha"}},
		{"~1.2.3", []string{"1.2.3", "1.2.9"}, []string{"1.3.0", "1.2.2"}},
		{"~1.2", []string{"1.2.0", "1.2.9"}, []string{"1.3.0"}},
		{"~1", []string{"1.0.0", "1.9.0"}, []string{"2.0.0"}},
		{">=1.0.0 <2.0.0", []string{"1.0.0", "1.9.9"}, []string{"0.9.9", "2.0.0", "2.0.0-rc.1"}},
		{">=1.0.0, <2.0.0", []string{"1.5.0"}, []string{"2.0.0"}},
		{">= 1.0.0 < 2.0.0", []string{"1.5.0"}, []string{"2.0.0"}},
		{">1.2", []string{"1.3.0"}, []string{"1.2.9"}},
		{">1.2.3", []string{"1.2.4"}, []string{"1.2.3"}},
		{"<=1.2", []string{"1.2.9"}, []string{"1.3.0"}},
		{"<=1.2.3", []string{"1.2.3"}, []string{"1.2.4"}},
		{"<1.2", []string{"1.1.9"}, []string{"1.2.0"}},
		{">1", []string{"2.0.0"}, []string{"1.9.9"}},
		{"^1.0 || ^3.0", []string{"1.5.0", "3.1.0"}, []string{"2.0.0"}},
		{">=1.0.0-rc.1 <1.0.0", []string{"1.0.0-rc.1", "1.0.0-rc.2"}, []string{"1.0.0", "1.0.0-beta"}},
		{"1.0.0-alpha.1", []string{"1.0.0-alpha.1"}, []string{"1.0.0-alpha.beta", "1.0.0"}},
		// Build metadata may hold hyphens: it is no pre-release.
		{"=1.2.3+build-7", []string{"1.2.3", "1.2.3+build-7"}, []string{"1.2.3-7", "1.2.4"}},
		{"1.2.3-rc.1+build-7", []string{"1.2.3-rc.1"}, []string{"1.2.3-7"}},
		// Past the largest number a range ends at the next larger part, or
		// nowhere if that is the major version.
		{"^0.18446744073709551615", []string{"0.18446744073709551615.5"}, []string{"1.0.0", "0.18446744073709551614.0"}},
		{"1.18446744073709551615.x", []string{"1.18446744073709551615.5"}, []string{"2.0.0"}},
		{"^18446744073709551615.2", []string{"18446744073709551615.2.0", "18446744073709551615.99.0"}, []string{"18446744073709551615.1.0"}},
		{"18446744073709551615", []string{"18446744073709551615.0.0"}, []string{"0.0.0"}},
		{"~1.18446744073709551615", []string{"1.18446744073709551615.7"}, []string{"2.0.0"}},
		{"^0.0.18446744073709551615", []string{"0.0.18446744073709551615"}, []string{"0.1.0"}},
		{">18446744073709551615", nil, []string{"18446744073709551615.0.0", "0.0.0"}},
		{"<=18446744073709551615", []string{"18446744073709551615.18446744073709551615.0", "0.0.0"}, nil},
	}
	for _, c := range cases {
		for _, v := range c.yes {
			if ok, err := plugin.MatchVersion(c.req, v); !ok || err != nil {
				t.Errorf("%q should allow %s (%v)", c.req, v, err)
			}
		}
		for _, v := range c.no {
			if ok, err := plugin.MatchVersion(c.req, v); ok || err != nil {
				t.Errorf("%q should not allow %s (%v)", c.req, v, err)
			}
		}
	}
}

// TestPrecedence checks the ordering example of semver.org 2.0.0, item 11.
func TestPrecedence(t *testing.T) {
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"}
	for i, lo := range order {
		for _, hi := range order[i+1:] {
			if ok, err := plugin.MatchVersion("<"+hi, lo); err != nil || (!ok && !strings.Contains(lo, "-")) {
				t.Errorf("%s < %s: %v %v", lo, hi, ok, err)
			}
			if ok, err := plugin.MatchVersion(">"+lo, hi); err != nil || (!ok && !strings.Contains(hi, "-")) {
				t.Errorf("%s > %s: %v %v", hi, lo, ok, err)
			}
			if ok, _ := plugin.MatchVersion("<="+lo, hi); ok {
				t.Errorf("%s <= %s", hi, lo)
			}
		}
	}
}

func TestMalformedVersions(t *testing.T) {
	for _, v := range []string{"", "1", "1.2", "v1.2.3", "01.2.3", "1.2.3.4", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+", "1.2.3+a_b", "1.-2.3", "99999999999999999999.0.0"} {
		if _, err := plugin.MatchVersion("*", v); err == nil {
			t.Errorf("version %q parsed", v)
		}
	}
	for _, r := range []string{"", " ", "abc", "^", ">=", "1.2.3.4", "1.x.3", "1.2-rc.1", ">=1.0.0 ||", "|| 1.0.0", "1.2.3<2.0.0", "~>1.2"} {
		if _, err := plugin.MatchVersion(r, "1.0.0"); err == nil {
			t.Errorf("requirement %q parsed", r)
		}
	}
}
