package runtime

import (
	"sync"
	"testing"
	"time"
)

// Workers reserving more than the pool holds, side by side, take turns:
// the reserved total never exceeds the capacity, and every worker gets
// through (no deadlock), nested reservations included.
func TestMemoryPoolTakesTurns(t *testing.T) {
	for i, c := range []struct {
		need, nested        int64
		wantLeast, wantMost int64 // the peak of what is reserved at once
	}{
		{60, 0, 60, 100},   // one at a time
		{30, 0, 60, 90},    // up to three at a time (they overlap: 2 ms each)
		{60, 60, 120, 120}, // the nested one goes above the capacity rather than wait, one worker at a time
	} {
		p := NewMemoryPool(100)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			b := p.Worker()
			go func() {
				defer wg.Done()
				for range 10 {
					release := b.Reserve(c.need)
					time.Sleep(2 * time.Millisecond)
					if c.nested > 0 {
						b.Reserve(c.nested)()
					}
					release()
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("case %d: the workers are stuck", i)
		}
		if peak := p.Peak(); peak > c.wantMost || peak < c.wantLeast {
			t.Errorf("case %d: want a peak between %d and %d, got %d", i, c.wantLeast, c.wantMost, peak)
		}
		if p.used != 0 {
			t.Errorf("case %d: %d bytes still reserved after every release", i, p.used)
		}
		if wp := p.WorkerPeak(); wp != c.need+c.nested {
			t.Errorf("case %d: want one worker's peak %d (its session and the nested one), got %d", i, c.need+c.nested, wp)
		}
	}
	// One worker alone goes ahead even above the capacity (CheckMemory
	// decides whether one session may run at all), and a nil budget is no
	// limit.
	p := NewMemoryPool(100)
	p.Worker().Reserve(150)()
	var none *MemoryBudget
	none.Reserve(1 << 60)()
	if p.Peak() != 150 {
		t.Errorf("want a peak of 150, got %d", p.Peak())
	}
}
