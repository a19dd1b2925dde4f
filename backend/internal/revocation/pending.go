package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
)

// The durable record of revocations not delivered yet: one value in the
// shared store (one key, so nothing needs a cross-slot operation), updated
// with compare-and-swap so that concurrent replicas never lose each
// other's entries. Any replica's sweep delivers them.
const (
	// pendingKey holds the JSON list of pending revocations (under the
	// "bff:" prefix every key of the BFF shares).
	pendingKey = "bff:rv:pending"
	// sweepKey is the lease of the replica sweeping this interval.
	sweepKey = "bff:rv:sweep"
	// MaxPending bounds the list (about 100 bytes an entry); beyond it the
	// entries closest to their end are dropped, and logged.
	MaxPending = 10000
	// DefaultRetryFor is Config.RetryFor's default: Logto's default
	// refresh-token lifetime (14 days). A token being revoked was issued
	// (or last rotated) no later than now, so it has expired by now plus
	// its lifetime at the latest; retrying longer is pointless.
	DefaultRetryFor = 14 * 24 * time.Hour
	// DefaultSweepEvery is Config.SweepEvery's default.
	DefaultSweepEvery = 30 * time.Second
	// maxUpdateTries bounds one compare-and-swap loop.
	maxUpdateTries = 32
)

// errContended: the pending list kept changing under an update.
var errContended = errors.New("revocation: pending list contended")

// entry is one pending revocation.
type entry struct {
	Token string    `json:"token"`
	Until time.Time `json:"until"` // give up after this: the token has expired
}

// record adds tokens to the pending list, to be retried until now +
// RetryFor. Without a store it is a no-op.
func (r *Revoker) record(ctx context.Context, tokens []string) error {
	if r.store == nil || len(tokens) == 0 {
		return nil
	}
	until := r.now().Add(r.retryFor)
	return r.update(ctx, func(list []entry) []entry {
		for _, t := range tokens {
			if i := slices.IndexFunc(list, func(e entry) bool { return e.Token == t }); i >= 0 {
				list[i].Until = until
				continue
			}
			list = append(list, entry{Token: t, Until: until})
		}
		return list
	})
}

// forget removes tokens (delivered, or refused for good) and every expired
// entry from the pending list.
func (r *Revoker) forget(ctx context.Context, tokens []string) error {
	if r.store == nil || len(tokens) == 0 {
		return nil
	}
	return r.update(ctx, func(list []entry) []entry {
		return slices.DeleteFunc(list, func(e entry) bool { return slices.Contains(tokens, e.Token) })
	})
}

// update applies f to the pending list with compare-and-swap, retrying on
// a concurrent change; it also drops expired entries and bounds the list.
func (r *Revoker) update(ctx context.Context, f func([]entry) []entry) error {
	for range maxUpdateTries {
		old, err := r.store.Get(ctx, pendingKey)
		if err != nil {
			return fmt.Errorf("revocation: read pending: %w", err)
		}
		list, err := decode(old)
		if err != nil {
			r.log.ErrorContext(ctx, "undecodable pending revocations dropped", "error", err.Error())
			list = nil
		}
		now := r.now()
		list = slices.DeleteFunc(f(list), func(e entry) bool { return !now.Before(e.Until) })
		if over := len(list) - MaxPending; over > 0 {
			slices.SortFunc(list, func(a, b entry) int { return a.Until.Compare(b.Until) })
			list = list[over:]
			r.log.ErrorContext(ctx, "pending revocations over their bound: the oldest were dropped", "dropped", over)
		}
		var ok bool
		if len(list) == 0 {
			if old == nil {
				return nil
			}
			ok, err = r.store.CompareAndDelete(ctx, pendingKey, old)
		} else {
			data, merr := json.Marshal(list)
			if merr != nil {
				return fmt.Errorf("revocation: encode pending: %w", merr)
			}
			last := slices.MaxFunc(list, func(a, b entry) int { return a.Until.Compare(b.Until) })
			ok, err = r.store.CompareAndSwap(ctx, pendingKey, old, data, last.Until.Sub(now))
		}
		if err != nil {
			return fmt.Errorf("revocation: write pending: %w", err)
		}
		if ok {
			return nil
		}
		// Another replica changed it meanwhile: read again.
		t := time.NewTimer(time.Duration(rand.N(int64(5 * time.Millisecond))))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return errContended
}

func decode(data []byte) ([]entry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var list []entry
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Pending returns how many revocations wait for delivery (0 without a
// store).
func (r *Revoker) Pending(ctx context.Context) (int, error) {
	if r.store == nil {
		return 0, nil
	}
	data, err := r.store.Get(ctx, pendingKey)
	if err != nil {
		return 0, err
	}
	list, err := decode(data)
	if err != nil {
		return 0, err
	}
	now := r.now()
	n := 0
	for _, e := range list {
		if now.Before(e.Until) {
			n++
		}
	}
	return n, nil
}

// Sweep delivers the pending revocations once, if no other replica holds
// this interval's sweep lease (then it does nothing). It stops at the first
// failure that says Logto is unreachable (the rest wait for the next
// sweep) and removes what was delivered, or refused for good (an unknown
// or expired token), from the list. It returns how many it delivered.
func (r *Revoker) Sweep(ctx context.Context, client *authflow.Client) (int, error) {
	if r.store == nil {
		return 0, nil
	}
	data, err := r.store.Get(ctx, pendingKey)
	if err != nil || len(data) == 0 {
		return 0, err
	}
	won, err := r.store.CompareAndSwap(ctx, sweepKey, nil, []byte(r.id), r.sweepEvery)
	if err != nil || !won {
		return 0, err
	}
	defer func() {
		// Free the lease so the next sweep (here or anywhere) need not wait.
		_, _ = r.store.CompareAndDelete(context.WithoutCancel(ctx), sweepKey, []byte(r.id))
	}()
	list, err := decode(data)
	if err != nil {
		return 0, r.update(ctx, func([]entry) []entry { return nil }) // logged by update
	}
	var done []string
	delivered := 0
	now := r.now()
	for _, e := range list {
		if !now.Before(e.Until) {
			done = append(done, e.Token)
			continue
		}
		attempt, cancel := context.WithTimeout(ctx, Timeout)
		err := client.Revoke(attempt, e.Token)
		cancel()
		if err != nil && !errors.Is(err, authflow.ErrRejected) {
			r.log.WarnContext(ctx, "pending revocations still undeliverable", "pending", len(list)-len(done), "error", err.Error())
			break
		}
		if err == nil {
			delivered++
		}
		done = append(done, e.Token)
	}
	if err := r.forget(ctx, done); err != nil {
		return delivered, err
	}
	if delivered > 0 {
		r.log.InfoContext(ctx, "pending revocations delivered", "delivered", delivered)
	}
	return delivered, nil
}

// Run sweeps every SweepEvery (with jitter, so replicas spread out) until
// ctx ends. clients yields the discovered client; while there is none the
// sweep waits.
func (r *Revoker) Run(ctx context.Context, clients interface {
	Client() (*authflow.Client, error)
}) {
	for {
		wait := r.sweepEvery/2 + time.Duration(rand.N(int64(r.sweepEvery)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		client, err := clients.Client()
		if err != nil {
			continue
		}
		if _, err := r.Sweep(ctx, client); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "revocation sweep failed", "error", err.Error())
		}
	}
}
