package agent

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"a", "sensor-1", "room/kitchen", "x.y_z:9", strings.Repeat("a", MaxNameLen)}
	for _, n := range good {
		if err := ValidateName("agent id", n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	bad := []string{"", "-a", "a b", "é", "a\x00", strings.Repeat("a", MaxNameLen+1)}
	for _, n := range bad {
		err := ValidateName("channel", n)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		} else if !strings.Contains(err.Error(), "channel") {
			t.Errorf("error %q does not name the kind", err)
		}
	}
}
