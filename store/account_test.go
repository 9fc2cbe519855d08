package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

// A token's expiry, as the console and "tokens create --expires" read it.
// 213504d used to overflow the duration it was turned into and come out
// as today; an expiry that far away is refused, saying why.
func TestParseTokenExpiry(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":           {},
		"90d":        now.Add(90 * 24 * time.Hour),
		"3650d":      now.Add(3650 * 24 * time.Hour),
		"2027-01-31": time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC),
		"2036-03-02": time.Date(2036, 3, 3, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := store.ParseTokenExpiry(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"213504d":               "more than 10 years away (at most 3650d, or a date until 2036-03-02); leave it out",
		"3651d":                 "more than 10 years away",
		"99999999999999999999d": "more than 10 years away",
		"2036-03-03":            "more than 10 years away",
		"9999-12-31":            "more than 10 years away",
		"0d":                    "a positive number of days",
		"-5d":                   "a positive number of days",
		"2001-01-01":            "in the past",
		"soon":                  "must be a date",
	} {
		got, err := store.ParseTokenExpiry(in, now)
		if !failure.Is(err, failure.Invalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, %v; want a refusal saying %q", in, got, err, why)
		}
	}
}
