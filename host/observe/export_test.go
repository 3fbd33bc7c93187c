package observe

import "time"

// SetNow replaces o's clock (tests only).
func SetNow(o *Observer, now func() time.Time) { o.now = now }
