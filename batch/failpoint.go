package batch

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// FailpointEnv names the environment variable that arms a failpoint:
// PAYROLL_FAILPOINT=<name>:<n> makes the process kill itself with SIGKILL
// the n-th time it reaches the point called name (n defaults to 1). It
// exists for the chaos tests (chaos/, scripts/chaos), which prove that a
// kill -9 at any of these points loses nothing and pays nobody twice.
// Unset (always, in production) a failpoint costs one atomic load.
//
// The points, in the order a line meets them:
//
//	before-claim-commit      ledger.Claim: inside the transaction, all its
//	                         writes done, not committed (the lines stay pending)
//	after-journal-append     every ledger commit: its journal commit is written
//	                         and fsynced, the bbolt commit is not done (the
//	                         next open replays the journal commit)
//	after-claim-commit       ledger.Claim: the intent is durable (sending),
//	                         nothing sent yet
//	after-send-before-record batch.Runner: the provider answered (accepted,
//	                         failed or unknown), the outcome is not recorded
//	before-outcome-commit    ledger.RecordOutcomes: inside the transaction,
//	                         not committed
//	after-outcome-commit     ledger.RecordOutcomes: the outcome is durable
//	mid-callback             cmd/payroll: a trusted callback (Kopo Kopo signed,
//	                         KiotaPay confirmed by a status query) is parsed,
//	                         its results not applied
//	mid-report               reports: a report's temporary file is written and
//	                         synced, not yet renamed into place
//
// Every ledger commit also passes before-<op>-commit and after-<op>-commit
// for its other operations (import, settle, resolve, retry, recover, init).
// A point reached concurrently by several goroutines counts each arrival
// once; which chunk is the n-th is then the order in which they arrived.
const FailpointEnv = "PAYROLL_FAILPOINT"

var failpoint struct {
	once  sync.Once
	armed atomic.Bool
	name  string
	n     int64
	hits  atomic.Int64
}

// Failpoint kills the process with SIGKILL if PAYROLL_FAILPOINT names this
// point and this is its n-th arrival. See FailpointEnv.
func Failpoint(name string) {
	failpoint.once.Do(armFailpoint)
	if !failpoint.armed.Load() || name != failpoint.name {
		return
	}
	if failpoint.hits.Add(1) == failpoint.n {
		killSelf()
		select {} // the signal is on its way; never return into the point
	}
}

func armFailpoint() {
	v := os.Getenv(FailpointEnv)
	if v == "" {
		return
	}
	name, nth, ok := strings.Cut(v, ":")
	n := int64(1)
	if ok {
		var err error
		if n, err = strconv.ParseInt(nth, 10, 64); err != nil || n < 1 {
			os.Stderr.WriteString("payroll: ignoring " + FailpointEnv + "=" + v + ": want <name>[:<n>] with n >= 1\n")
			return
		}
	}
	failpoint.name, failpoint.n = name, n
	failpoint.armed.Store(true)
}
