package plugin

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file implements semantic versions (semver.org 2.0.0) and version
// requirements in the syntax npm and Cargo users know:
//
//	1.2.3            exactly 1.2.3 (also =1.2.3)
//	1.2, 1.2.x       >=1.2.0 <1.3.0      1, 1.x   >=1.0.0 <2.0.0     *   any
//	^1.2.3           >=1.2.3 <2.0.0      ^0.2.3   >=0.2.3 <0.3.0     ^0.0.3  =0.0.3
//	~1.2.3           >=1.2.3 <1.3.0      ~1       >=1.0.0 <2.0.0
//	>=1.0.0 <2.0.0   both (comparators separated by spaces or commas)
//	^1.2 || ^2.0     either
//
// Comparators take partial versions (">=1.2" is ">=1.2.0", "<=1.2" is
// "<1.3.0", ">1" is ">=2.0.0"). A pre-release version (1.3.0-rc.1) meets a
// requirement only if it compares right and one of the comparators in the
// same || branch names a pre-release of the same MAJOR.MINOR.PATCH, so
// "^1.2" never picks up 2.0.0-rc.1 or 1.5.0-beta.

// semver is a parsed version; build metadata is dropped (it does not
// affect precedence).
type semver struct {
	major, minor, patch uint64
	pre                 []string // pre-release identifiers
}

// parseVersion parses a full version MAJOR.MINOR.PATCH[-PRE][+BUILD].
func parseVersion(s string) (semver, error) {
	core, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !validIdents(build, false) {
		return semver{}, fmt.Errorf("version %q: bad build metadata %q", s, build)
	}
	core, pre, hasPre := strings.Cut(core, "-")
	nums := strings.Split(core, ".")
	if len(nums) != 3 {
		return semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH (e.g. 1.2.0)", s)
	}
	var v semver
	for i, p := range []*uint64{&v.major, &v.minor, &v.patch} {
		n, err := parseNumber(nums[i])
		if err != nil {
			return semver{}, fmt.Errorf("version %q: %v", s, err)
		}
		*p = n
	}
	if hasPre {
		if !validIdents(pre, true) {
			return semver{}, fmt.Errorf("version %q: bad pre-release %q (dot-separated letters, digits and hyphens; numbers without leading zeros)", s, pre)
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, nil
}

// parseNumber parses a numeric identifier: digits without leading zeros.
func parseNumber(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a number without leading zeros", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// pre-release identifiers must not have leading zeros.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		numeric := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case '0' <= c && c <= '9':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '-':
				numeric = false
			default:
				return false
			}
		}
		if pre && numeric && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// compare orders versions by semver precedence.
func (v semver) compare(w semver) int {
	for _, d := range [][2]uint64{{v.major, w.major}, {v.minor, w.minor}, {v.patch, w.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.pre) == 0 && len(w.pre) == 0:
		return 0
	case len(v.pre) == 0:
		return 1
	case len(w.pre) == 0:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(w.pre); i++ {
		if c := compareIdent(v.pre[i], w.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.pre) < len(w.pre):
		return -1
	case len(v.pre) > len(w.pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
		return 0
	case aerr == nil:
		return -1 // numeric identifiers sort before alphanumeric ones
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func (v semver) samePatch(w semver) bool {
	return v.major == w.major && v.minor == w.minor && v.patch == w.patch
}

// bound is one primitive comparison.
type bound struct {
	op string // "=", ">", ">=", "<", "<="
	v  semver
}

func (b bound) allows(v semver) bool {
	c := v.compare(b.v)
	switch b.op {
	case "=":
		return c == 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "<":
		return c < 0
	default: // "<="
		return c <= 0
	}
}

// requirement is a disjunction of conjunctions of bounds.
type requirement [][]bound

// parseRequirement parses a version requirement (see the top of this file).
func parseRequirement(s string) (requirement, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty version requirement")
	}
	var req requirement
	for _, branch := range strings.Split(s, "||") {
		fields := strings.FieldsFunc(branch, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
		if len(fields) == 0 {
			return nil, fmt.Errorf("version requirement %q: empty branch around ||", s)
		}
		var set []bound
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			if strings.Trim(f, "<>=^~") == "" && i+1 < len(fields) {
				f += fields[i+1] // ">= 1.2.0" as ">=1.2.0"
				i++
			}
			bs, err := parseComparator(f)
			if err != nil {
				return nil, fmt.Errorf("version requirement %q: %v", s, err)
			}
			set = append(set, bs...)
		}
		req = append(req, set)
	}
	return req, nil
}

// partial is a version with possibly missing or wildcard parts.
type partial struct {
	nums [3]uint64
	n    int // how many of nums are given (0-3)
	pre  []string
}

func (p partial) version() semver { return semver{p.nums[0], p.nums[1], p.nums[2], p.pre} }

// next returns the smallest version above every version p matches: 1.2 ->
// 1.3.0, 1 -> 2.0.0. p must have 1 or 2 parts. ok is false when there is
// none (p is the largest major version).
func (p partial) next() (v semver, ok bool) {
	return bump(p.nums[0], p.nums[1], 0, p.n-1)
}

// bump returns the smallest version above every major.minor.patch that
// agrees with it up to part i (0: major): part i incremented and the parts
// after it zeroed. A part that is already math.MaxUint64 carries into the
// part before it (0.0.MAX -> 0.1.0); ok is false when the major part
// overflows: no version is above.
func bump(major, minor, patch uint64, i int) (semver, bool) {
	nums := [3]uint64{major, minor, patch}
	for ; i >= 0; i-- {
		if nums[i] < math.MaxUint64 {
			nums[i]++
			for j := i + 1; j < 3; j++ {
				nums[j] = 0
			}
			return semver{major: nums[0], minor: nums[1], patch: nums[2]}, true
		}
	}
	return semver{}, false
}

// below returns the bounds >= lo and, if there is one (ok), < hi.
func below(lo, hi semver, ok bool) []bound {
	if !ok {
		return []bound{{">=", lo}}
	}
	return []bound{{">=", lo}, {"<", hi}}
}

func parsePartial(s string) (partial, error) {
	var p partial
	if s == "*" || s == "x" || s == "X" {
		return p, nil
	}
	// Build metadata is ignored. It may hold hyphens, so it is cut off
	// before the pre-release, as in parseVersion.
	core, _, _ := strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("%q has more than three parts", s)
	}
	wild := false
	for i, part := range parts {
		if part == "*" || part == "x" || part == "X" {
			wild = true
			continue
		}
		if wild {
			return p, fmt.Errorf("%q: a number after a wildcard", s)
		}
		n, err := parseNumber(part)
		if err != nil {
			return p, fmt.Errorf("%q: %v", s, err)
		}
		p.nums[i] = n
		p.n = i + 1
	}
	if hasPre {
		if p.n != 3 || !validIdents(pre, true) {
			return p, fmt.Errorf("%q: a pre-release needs a full MAJOR.MINOR.PATCH and identifiers of letters, digits and hyphens", s)
		}
		p.pre = strings.Split(pre, ".")
	}
	return p, nil
}

// parseComparator turns one comparator into bounds.
func parseComparator(s string) ([]bound, error) {
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
		if strings.HasPrefix(s, o) {
			op, s = o, s[len(o):]
			break
		}
	}
	if s == "" {
		return nil, fmt.Errorf("%q without a version", op)
	}
	p, err := parsePartial(s)
	if err != nil {
		return nil, err
	}
	lo := p.version()
	all := []bound{{">=", semver{}}}
	none := []bound{{"<", semver{}}}
	switch op {
	case "", "=":
		switch p.n {
		case 0:
			return all, nil
		case 3:
			return []bound{{"=", lo}}, nil
		}
		hi, ok := p.next()
		return below(lo, hi, ok), nil
	case ">=":
		return []bound{{">=", lo}}, nil
	case "<":
		if p.n == 0 {
			return none, nil
		}
		return []bound{{"<", lo}}, nil
	case ">":
		switch p.n {
		case 0:
			return none, nil
		case 3:
			return []bound{{">", lo}}, nil
		}
		if hi, ok := p.next(); ok {
			return []bound{{">=", hi}}, nil
		}
		return none, nil
	case "<=":
		switch p.n {
		case 0:
			return all, nil
		case 3:
			return []bound{{"<=", lo}}, nil
		}
		if hi, ok := p.next(); ok {
			return []bound{{"<", hi}}, nil
		}
		return all, nil
	case "~":
		switch p.n {
		case 0:
			return all, nil
		case 1:
			hi, ok := p.next()
			return below(lo, hi, ok), nil
		}
		hi, ok := bump(p.nums[0], p.nums[1], 0, 1)
		return below(lo, hi, ok), nil
	default: // "^": keep the leftmost non-zero part given
		var hi semver
		ok := true
		switch {
		case p.n == 0:
			return all, nil
		case p.nums[0] > 0 || p.n == 1:
			hi, ok = bump(p.nums[0], 0, 0, 0)
		case p.nums[1] > 0 || p.n == 2:
			hi, ok = bump(0, p.nums[1], 0, 1)
		default:
			hi, ok = bump(0, 0, p.nums[2], 2)
		}
		return below(lo, hi, ok), nil
	}
}

func (r requirement) allows(v semver) bool {
	for _, set := range r {
		ok := true
		preOK := len(v.pre) == 0
		for _, b := range set {
			if !b.allows(v) {
				ok = false
				break
			}
			if len(b.v.pre) > 0 && b.v.samePatch(v) {
				preOK = true
			}
		}
		if ok && preOK {
			return true
		}
	}
	return false
}

// MatchVersion reports whether version (a semantic version such as
// "1.2.0") meets requirement (a pin "1.2.0", a range "^1.2", "~1.2.3",
// ">=1.0.0 <2.0.0", or alternatives joined by "||"). It returns an error
// if either does not parse.
func MatchVersion(requirement, version string) (bool, error) {
	req, err := parseRequirement(requirement)
	if err != nil {
		return false, err
	}
	v, err := parseVersion(version)
	if err != nil {
		return false, err
	}
	return req.allows(v), nil
}
