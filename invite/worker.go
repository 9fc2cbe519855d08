// Package invite delivers invitation emails from the outbox and serves the
// page where an invited user accepts.
//
// The directory decides invitations (who is invited, resends, revocation,
// acceptance) and queues each email in the outbox together with the
// user's invitation state (see package store). The Worker here sends what
// is queued: it claims an entry with a lease (a conditional update, so two
// server instances never send one email twice), checks the entry against
// the user's current invitation, sends, and marks it sent; a failed send
// is retried with exponential backoff for as long as the invitation is
// pending.
package invite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	imail "github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Worker delivers invitation emails.
type Worker struct {
	Store  store.Store
	Sender imail.Sender
	// From is the sender address (SCIM_MAIL_FROM).
	From string
	// BaseURL is the public URL of the server; links are
	// {BaseURL}/invitations/{token}.
	BaseURL string
	// Directory, when set, gets the expiry sweep (ExpireInvitations).
	Directory *directory.Service
	Logger    *slog.Logger
	// ID names this worker in leases; random by default.
	ID string

	// Poll is how often the worker looks for due entries when nothing
	// woke it (default 5s). Lease is how long a claim holds (default 2m;
	// far longer than one SMTP delivery may take). RetryMin and RetryMax
	// bound the backoff after a failed delivery (default 30s and 1h; it
	// doubles after every failure). Grace is how long an entry whose user
	// document does not name it may still be the one of a write in flight
	// (default 2m). SweepEvery is how often expired invitations are marked
	// (default 1m).
	Poll, Lease, RetryMin, RetryMax, Grace, SweepEvery time.Duration

	once sync.Once
	wake chan struct{}

	// claimed are entries this worker claimed but could not handle (the
	// database went away): handled first when it is back, while the
	// claim holds, rather than left until the lease runs out.
	mu      sync.Mutex
	claimed []*store.OutboxEntry
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.ID == "" {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			w.ID = hex.EncodeToString(b)
		}
		if w.Logger == nil {
			w.Logger = slog.Default()
		}
		def := func(d *time.Duration, v time.Duration) {
			if *d <= 0 {
				*d = v
			}
		}
		def(&w.Poll, 5*time.Second)
		def(&w.Lease, 2*time.Minute)
		def(&w.RetryMin, 30*time.Second)
		def(&w.RetryMax, time.Hour)
		def(&w.Grace, store.OutboxGrace)
		def(&w.SweepEvery, time.Minute)
	})
}

// Notify wakes the worker: an email was queued.
func (w *Worker) Notify() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	w.Logger.Debug("invitation delivery worker started", "worker", w.ID)
	lastSweep := time.Time{}
	outage := 0 // rounds in a row that found the database unreachable
	for {
		_, err := w.DeliverDue(ctx)
		switch {
		case ctx.Err() != nil:
		case failure.Is(err, failure.Unavailable):
			// Said once per outage, not once per round; the rounds back
			// off until the database answers again.
			if outage++; outage == 1 {
				w.Logger.Warn("invitation delivery paused: the database is unreachable; retrying", "error", err)
			}
		case err != nil:
			w.Logger.Warn("invitation delivery", "error", err)
		}
		if err == nil && outage > 0 {
			w.Logger.Info("invitation delivery resumed: the database answers again", "after_rounds", outage)
			outage = 0
		}
		if outage == 0 && w.Directory != nil && time.Since(lastSweep) >= w.SweepEvery && ctx.Err() == nil {
			lastSweep = time.Now()
			if _, err := w.Directory.ExpireInvitations(ctx, 100); err != nil && ctx.Err() == nil {
				w.Logger.Warn("marking expired invitations", "error", err)
			}
			if _, err := w.Store.PurgeOutbox(ctx, time.Now().Add(-store.OutboxRetention)); err != nil && ctx.Err() == nil {
				w.Logger.Warn("purging delivered invitation emails", "error", err)
			}
		}
		t := time.NewTimer(w.pause(outage))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// pause is the wait before the next round: Poll, doubled for each round
// in a row that found the database unreachable, up to maxOutagePause.
func (w *Worker) pause(outage int) time.Duration {
	d := w.Poll
	for i := 1; i < outage && d < maxOutagePause; i++ {
		d *= 2
	}
	return max(w.Poll, min(d, maxOutagePause))
}

// maxOutagePause bounds the backoff while the database is unreachable: an
// email queued meanwhile wakes the worker anyway (Notify).
const maxOutagePause = 30 * time.Second

// DeliverDue handles every entry that is due now and returns how many it
// sent.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	w.init()
	sent := 0
	n, err := w.resumeClaimed(ctx)
	sent += n
	if err != nil {
		return sent, err
	}
	for ctx.Err() == nil {
		due, err := w.Store.DueOutbox(ctx, dueBatch)
		if err != nil || len(due) == 0 {
			return sent, err
		}
		for _, e := range due {
			if ctx.Err() != nil {
				break
			}
			// Claiming and handling a claimed entry are seen through even
			// when ctx ends (shutdown): an entry left claimed would wait for
			// its lease to run out.
			bg := context.WithoutCancel(ctx)
			claimed, err := w.Store.ClaimOutbox(bg, e, w.ID, w.Lease)
			if err != nil {
				return sent, err
			}
			if !claimed {
				continue // another worker has it
			}
			ok, err := w.handle(bg, ctx.Done(), e)
			if ok {
				sent++
			}
			if err != nil {
				w.keepClaimed(e, ok, err)
				return sent, err
			}
		}
	}
	return sent, ctx.Err()
}

// keepClaimed keeps an entry whose handling the database interrupted
// before its email was sent, to be handled again (resumeClaimed).
func (w *Worker) keepClaimed(e *store.OutboxEntry, sent bool, err error) {
	if sent || !failure.Is(err, failure.Unavailable) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.claimed = append(w.claimed, e)
}

// resumeClaimed handles the entries keepClaimed kept whose claim still
// holds for a while; the others are left to whichever worker claims them
// next.
func (w *Worker) resumeClaimed(ctx context.Context) (int, error) {
	w.mu.Lock()
	entries := w.claimed
	w.claimed = nil
	w.mu.Unlock()
	sent := 0
	for i, e := range entries {
		if time.Until(e.ClaimedUntil) < w.Lease/4 {
			continue
		}
		ok, err := w.handle(context.WithoutCancel(ctx), ctx.Done(), e)
		if ok {
			sent++
		}
		if err != nil {
			w.keepClaimed(e, ok, err)
			w.mu.Lock()
			w.claimed = append(w.claimed, entries[i+1:]...)
			w.mu.Unlock()
			return sent, err
		}
	}
	return sent, nil
}

// dueBatch is how many due entries the worker reads at once.
const dueBatch = 100

// handle checks a claimed entry against its user and sends it. stop is
// closed when the worker is asked to stop.
func (w *Worker) handle(ctx context.Context, stop <-chan struct{}, e *store.OutboxEntry) (bool, error) {
	log := w.Logger.With("account", e.Account, "user", e.User, "invitation", e.ID)
	finish := func(err error) error {
		if errors.Is(err, store.ErrNotClaimed) {
			log.Warn("invitation email: the lease ran out before the worker finished", "worker", w.ID)
			return nil
		}
		return err
	}
	now := time.Now()
	// The entry is written before the user document that names it (a new
	// user, or a batch of them, may still be on its way): within the grace
	// period, an entry no user names yet is looked at again shortly.
	notYet := func(reason string) (bool, error) {
		if now.Sub(e.Created) < w.Grace {
			return false, finish(w.Store.DeferOutbox(ctx, e, minTime(now.Add(2*time.Second), e.Created.Add(w.Grace))))
		}
		return false, finish(w.Store.DiscardOutbox(ctx, e, reason))
	}
	u, err := w.Store.Get(ctx, schemas.User, e.Account, e.User)
	if failure.Is(err, failure.NotFound) {
		return notYet("no such user (deleted, or never written)")
	}
	if err != nil {
		return false, err
	}
	inv := u.Invitation
	if inv == nil || inv.ID != e.ID {
		return notYet("the user's invitation is another one (replaced, or never written)")
	}
	if inv.Status != store.InvitationPending || !now.Before(inv.ExpiresAt) || !store.Active(u.Attributes) {
		return false, finish(w.Store.DiscardOutbox(ctx, e, "the invitation is no longer pending"))
	}
	acct, err := w.Store.Account(ctx, e.Account)
	if err != nil {
		return false, err
	}
	to := recipient(u.Attributes)
	if to == "" {
		log.Warn("invitation email not sent: the user has no email address (emails, or a userName that is one)")
		metrics.InvitationEmail(metrics.EmailUndeliverable)
		return false, finish(w.Store.FailOutbox(ctx, e, "no email address"))
	}
	msg, err := w.message(acct, u, inv, to, e)
	if err != nil {
		return false, err
	}
	if err := w.Sender.Send(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		metrics.InvitationEmail(metrics.EmailFailed)
		delay := w.backoff(e.Attempts)
		log.Warn("invitation email not delivered; will retry", "attempt", e.Attempts+1, "retry_in", delay.Round(time.Millisecond).String(), "error", err)
		return false, finish(w.Store.RetryOutbox(ctx, e, now.Add(delay), err.Error()))
	}
	metrics.InvitationEmail(metrics.EmailSent)
	if err := w.markSent(ctx, stop, e); err != nil {
		return true, finish(err)
	}
	// One line per email, saying what happened to it.
	if u, ok := w.Sender.(imail.Unsent); ok {
		log.Info("invitation email not sent ("+u.Unsent()+"); here is its link", "to", msg.To, "subject", msg.Subject, "link", msg.Link)
	} else {
		log.Info("invitation email sent", "attempt", e.Attempts+1)
	}
	return true, nil
}

// markSent records a sent email. The email is out: should the database
// be unreachable, recording it is retried for as long as the lease holds
// (after that another worker may claim the entry and send it again, and a
// second email is what the retries are there to prevent), or until the
// worker is stopped.
func (w *Worker) markSent(ctx context.Context, stop <-chan struct{}, e *store.OutboxEntry) error {
	for {
		err := w.Store.MarkOutboxSent(ctx, e)
		if !failure.Is(err, failure.Unavailable) || time.Until(e.ClaimedUntil) < markSentRetry {
			return err
		}
		select {
		case <-stop:
			return err
		case <-time.After(markSentRetry):
		}
	}
}

// markSentRetry is the pause between attempts of markSent.
const markSentRetry = time.Second

// backoff is RetryMin doubled per earlier attempt, at most RetryMax, with
// ±20% jitter so that a recovering SMTP server is not hit all at once.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.RetryMin
	for i := 0; i < attempts && d < w.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.RetryMax)
	jitter := time.Duration(float64(d) * 0.2 * (2*mrand.Float64() - 1))
	return d + jitter
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// recipient is the user's primary email, else the first one, else the
// userName when it is an address.
func recipient(attrs map[string]any) string {
	var first, primary string
	list, _ := attrs["emails"].([]any)
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		v, _ := m["value"].(string)
		if !validAddress(v) {
			continue
		}
		if first == "" {
			first = v
		}
		if m["primary"] == true && primary == "" {
			primary = v
		}
	}
	switch {
	case primary != "":
		return primary
	case first != "":
		return first
	}
	if un, _ := attrs["userName"].(string); validAddress(un) {
		return un
	}
	return ""
}

func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == strings.TrimSpace(s) && strings.Contains(s, "@")
}

// displayName is how the email greets the user.
func displayName(attrs map[string]any) string {
	if n, ok := attrs["name"].(map[string]any); ok {
		if f, _ := n["formatted"].(string); strings.TrimSpace(f) != "" {
			return f
		}
		g, _ := n["givenName"].(string)
		fam, _ := n["familyName"].(string)
		if s := strings.TrimSpace(g + " " + fam); s != "" {
			return s
		}
	}
	if d, _ := attrs["displayName"].(string); strings.TrimSpace(d) != "" {
		return d
	}
	return ""
}
