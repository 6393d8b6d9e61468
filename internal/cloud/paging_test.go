package cloud

import (
	"context"
	"strings"
	"testing"
)

func TestByPageCountsWhatCame(t *testing.T) {
	// The server answers 10 per page whatever was asked: 25 items take 3.
	calls := 0
	err := byPage(context.Background(), func(page int32) (int, int, error) {
		calls++
		return min(10, 25-int(page-1)*10), 25, nil
	})
	if err != nil || calls != 3 {
		t.Errorf("calls %d, err %v", calls, err)
	}
}

func TestByTokenStopsOnARepeatedToken(t *testing.T) {
	calls := 0
	err := byToken(context.Background(), func(string) (string, error) {
		calls++
		return "same", nil
	})
	if err == nil || !strings.Contains(err.Error(), "came back twice") || calls != 2 {
		t.Errorf("calls %d, err %v", calls, err)
	}
}
