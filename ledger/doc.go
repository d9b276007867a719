// Package ledger is payroll's crash-safe, idempotent record of batches,
// lines, attempts and events, kept in one bbolt file. It guarantees that
// after any crash, kill, overlapping run or edit of the sheet no line is
// paid twice and every line is accounted for. It imports only batch (and
// bbolt and uuid) and knows nothing of HTTP: callers send requests
// between ledger calls, never inside one.
//
// # Buckets
//
// Top-level buckets, created in one synced transaction at first open:
//
//	meta/      "schema" → Schema, "created" → time
//	batches/   batch ID → Batch (JSON): file, sheet sha256, config
//	           fingerprint, counts per state, totals per currency
//	batch/<batch ID>/
//	    lines/   BE uint64 seq (sheet order) → line record
//	    refs/    line reference → BE seq
//	    events/  BE NextSequence → Event (JSON), append-only
//	provrefs/  provider NUL provider reference → {batch, [seq…]}: a
//	           KiotaPay requestId names one line, a Kopo Kopo location a
//	           whole chunk
//	payees/    batch.Line.PayeeKey() NUL batch NUL ref → BE unix nanos +
//	           state code, written when a line becomes accepted, unknown
//	           or paid and deleted when it fails: the cross-batch
//	           duplicate check
//	inflight/  batch NUL BE seq → nil for every line in sending: crash
//	           recovery reads this instead of scanning every line
//
// meta/journal holds the journal head the ledger has applied (below).
//
// A line record is an 8-byte header (format version, state code, sheet
// row, fingerprint length), the fingerprint, then a compact binary body
// (format 2, laid out in codec.go): the LineRecord's fields as varints and
// length-prefixed strings, the line's reference stored once, provider,
// destination type, currency and states as one-byte codes, amounts as
// integer cents, times as Unix seconds and nanoseconds; only an invalid
// row's details are JSON. A typical mobile-wallet line takes 95 bytes, 38
// of them the fingerprint, where format 1 (header and JSON) took 335.
// Imports and scans compare state and fingerprint from the header without
// decoding the body; a damaged body is an ErrInvariant, never a panic.
// Append-only buckets (lines, events, and refs of a new batch, inserted
// sorted) use FillPercent 1.0.
//
// # States
//
// The state machine of docs/design.md §3 is one table (transitions, in
// state.go) and one function, move, through which every state change
// goes; move also keeps the batch counts, the in-flight and payee indexes
// and the event log in step:
//
//	pending   → sending                 Claim (intent before effect)
//	sending   → accepted                RecordOutcomes: provider took it
//	sending   → pending                 RecordOutcomes: rejected, nothing ran
//	sending   → failed                  RecordOutcomes: conclusive rejection
//	sending   → unknown                 RecordOutcomes, or crash recovery at Open
//	accepted  → paid | failed           Settle (callback, poll)
//	unknown   → paid | failed           Settle (proof) or Resolve (operator)
//	failed    → pending                 Retry only
//	pending   → cancelled | conflict | invalid     Import
//	invalid, cancelled → pending | conflict | cancelled/invalid   Import
//
// Everything else is forbidden: paid and conflict are never left, failed
// only by Retry, unknown only with proof. A result that contradicts a
// line (failed after paid, a result for an earlier attempt, an amount or
// destination that differs from the ledger) is recorded as a flagged
// event and a flag on the line, never applied; Retry never resends a
// flagged line. The same result twice is a no-op.
//
// # Invariants
//
//  1. At most one attempt per line may have paid: at most one attempt is
//     accepted or unknown without being settled failed. Claim takes only
//     pending lines; a line leaves unknown only with proof; failed lines
//     go back to pending only through Retry.
//  2. Intent before effect: Claim commits (fsync) the attempt as sending
//     before the caller may send a byte. No method takes a callback, so
//     no provider call can run inside a transaction.
//  3. No blind retry: only a Rejected outcome (nothing ran) returns a line
//     to pending by itself.
//  4. Conservation: the counts per state add up to the lines and to the
//     batch's counts; per currency the lines' amounts add up to the
//     totals recorded by the imports. Check verifies both.
//  5. Results apply only to a known provider reference, to the line's
//     current attempt, with matching amount and destination.
//
// Check runs bbolt's tx.Check and verifies these over the whole file.
//
// # Crash safety
//
// Every operation is one bbolt write transaction: one commit and one
// fsync per import, per chunk claimed, per batch of outcomes or results,
// never one per line on a bulk path. A transaction either commits whole
// or not at all, so a kill at any point leaves the file as it was after
// the last commit. NoSync is never set. NoFreelistSync is: bbolt then
// does not rewrite its free-page list on every commit (a cost that grew
// with the file, from 80 to 345 µs per line on a 100,000-line batch) and
// rebuilds it by scanning the file on open; data pages and the meta page
// are still fsynced on every commit, so durability is unchanged. The file
// is mapped with 1 GiB of headroom so that a large import does not remap
// it mid-transaction (see initialMmapSize). Pages read through the map
// stay in the process's resident set, so read transactions and commits
// release the map's pages at most every 100 ms (madvise MADV_DONTNEED on
// Linux, which keeps them in the page cache): a run over a large ledger
// keeps only what it is reading resident. Open waits at most
// Options.Timeout for the file lock and fails with ErrBusy: the lock also
// keeps two runs from overlapping (a second Open in the same process
// fails too, since flock is per open file description). On a writable
// Open, lines left in sending by a dead process become unknown with a
// "crash-recovery" event; nothing is resent automatically. Iterators
// (Lines, Events) read in pages and hold no transaction while the
// caller's loop body runs, so the caller may write from inside the loop.
//
// # The journal
//
// Every write transaction of a writable DB is mirrored in <ledger>.journal
// (journal.go, docs/journal.md): its puts, deletes, bucket creations and
// sequence changes are encoded as they are made (writes go through
// wbucket, never a bare *bolt.Bucket) into JSON lines chained by SHA-256,
// and the commit is written and fsynced before bbolt commits, inside the
// same bolt.Update; the new head is put in meta/journal in that
// transaction. A failed transaction truncates what it appended. Open
// reconciles the two before any write (attach: replay one commit ahead,
// cut a torn commit, refuse anything else); CheckJournal replays the
// whole journal into a scratch file and compares it with the ledger key
// for key; Recover rebuilds the ledger from it. The journal file's lock
// keeps Recover and a writer apart.
package ledger
