package mongodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Only the driver's errors are classified: errors.As reads every error of
// the server through classify, a timeout of the identity provider's HTTP
// client included.
func TestClassifyOnlyDriverErrors(t *testing.T) {
	netTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for name, err := range map[string]error{
		"plain":            errors.New("boom"),
		"deadline":         context.DeadlineExceeded,
		"wrapped deadline": fmt.Errorf("oidc discovery: %w", context.DeadlineExceeded),
		"net timeout":      netTimeout,
		"cancelled":        context.Canceled,
		"duplicate key":    mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key"}}},
		"bad command":      mongo.CommandError{Code: 2, Message: "BadValue"},
		"no documents":     mongo.ErrNoDocuments,
	} {
		if f := classify(err); f != nil {
			t.Errorf("%s: classified as %v", name, f)
		}
	}
	for name, err := range map[string]error{
		"network label":   mongo.CommandError{Code: 0, Message: "connection reset", Labels: []string{"NetworkError"}},
		"not primary":     mongo.CommandError{Code: 10107, Message: "not primary"},
		"shutdown":        fmt.Errorf("find: %w", mongo.CommandError{Code: 91, Message: "shutting down"}),
		"write concern":   mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 64, Message: "waiting for replication timed out"}},
		"deadline inside": mongo.CommandError{Message: "timed out", Wrapped: context.DeadlineExceeded},
		"disconnected":    mongo.ErrClientDisconnected,
	} {
		if f := classify(err); f == nil {
			t.Errorf("%s: not classified as unavailable", name)
		}
	}
}
