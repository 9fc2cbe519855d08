package scim

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// ActivityWriter writes the activity log in the background, many entries
// per store write: a request does not wait for its entry to be stored, and
// the store sees one write per batch instead of one per request. Entries
// still queued when the process dies are lost (at most a batch interval's
// worth); Close writes what is queued.
type ActivityWriter struct {
	store store.ActivityLog
	log   *slog.Logger
	queue chan []*store.ActivityEntry
	done  chan struct{}
	once  sync.Once
}

const (
	// activityQueue bounds the requests whose entries wait; beyond it a
	// request writes its own (the queue only smooths bursts).
	activityQueue = 4096
	// activityBatch and activityInterval bound a batch.
	activityBatch    = 500
	activityInterval = 200 * time.Millisecond
)

// NewActivityWriter starts a writer; Record is its ActivityFunc.
func NewActivityWriter(st store.ActivityLog, log *slog.Logger) *ActivityWriter {
	w := &ActivityWriter{store: st, log: log, queue: make(chan []*store.ActivityEntry, activityQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues a request's entries (Options.Activity).
func (w *ActivityWriter) Record(ctx context.Context, entries []*store.ActivityEntry) {
	select {
	case w.queue <- entries:
	default:
		w.write(context.WithoutCancel(ctx), entries)
	}
}

func (w *ActivityWriter) run() {
	defer close(w.done)
	var batch []*store.ActivityEntry
	tick := time.NewTicker(activityInterval)
	defer tick.Stop()
	for {
		select {
		case entries, ok := <-w.queue:
			if !ok {
				w.write(context.Background(), batch)
				return
			}
			batch = append(batch, entries...)
			if len(batch) < activityBatch {
				continue
			}
		case <-tick.C:
		}
		w.write(context.Background(), batch)
		batch = nil
	}
}

func (w *ActivityWriter) write(ctx context.Context, entries []*store.ActivityEntry) {
	if len(entries) == 0 {
		return
	}
	if err := w.store.AddActivity(ctx, entries...); err != nil {
		w.log.WarnContext(ctx, "could not write the activity log", "entries", len(entries), "error", err)
	}
}

// Close writes the queued entries and stops the writer. Call it once no
// request can record any more (after the HTTP server shut down).
func (w *ActivityWriter) Close() {
	w.once.Do(func() { close(w.queue) })
	<-w.done
}
