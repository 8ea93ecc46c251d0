// Package campaign runs a mail-merge campaign: it reads the campaign file,
// streams the recipients, renders each personal message and then checks,
// renders to files or sends them, recording one outcome per recipient.
//
// It is the one package that knows all the others: recipients, compose,
// delivery, journal and throttle are leaves, and campaign converts between
// their types.
//
// This comment is the model of a run. Read it before changing the code.
//
// # Files
//
//	campaign.go  Load: the campaign file into a Campaign (config.go parses it)
//	rows.go      opening the list, and the rules for a reader's errors
//	selection.go Selection, the rows of --rows
//	pipeline.go  each: the row pipeline, reader -> composers -> consumer
//	check.go     Check, on the pipeline; dups.go finds repeated addresses
//	render.go    Render, the dry run into .eml files
//	replace.go   which folder render --force may replace: an earlier render's
//	preview.go   Messages and Message, for the preview page
//	send.go      Send in its steps: settings, check, results file, log in, run
//	plan.go      Plan, what a run will send, for SendOptions.Confirm
//	runner.go    the send runner: producer, workers, retry, stop, record
//	outcome.go   what one attempt's result means: record, retry or stop
//	settings.go  [smtp] and [send] with the flags, validated for check and send
//	relays.go    [[relays]] over [smtp]: each relay's settings and login
//	dispatch.go  the relays of a run: the dispatcher, weights, failover
//	shard.go     Shard, the rows of send --shard I/N, and their results file
//	merge.go     Merge: the shards' results files joined into one
//	memory.go    QueuedBytes, the memory a send run's queues hold, for the GC
//	suppress.go  suppress files: which one holds a row's address; send keeps
//	             only the rows check found (suppression.freeze)
//	smtp.go      providers and their presets, the sandbox Server
//	errors.go    RowError, ConfigError, Problem and the sentinel errors
//
// # A row on its way
//
// A recipient changes type five times, and each type belongs to one stage:
//
//	recipients.Recipient  the list reader's row: number, line, fields
//	row                   the pipeline's: the recipient with its message, or
//	                      the reason it has none (err, a *RowError)
//	compose.Message       the composer's: envelope, headers, body; written
//	                      out ahead (row.wire) when it is 256 KiB or less
//	job                   the runner's: the message, its attempts so far, and
//	                      which envelope recipients are still pending
//	delivery.Envelope     one attempt: the sender and the pending recipients;
//	delivery.Result       its outcome: Delivered, Deferred, Rejected, Unknown
//	                      or Fatal, with the reply and any refused recipients
//	journal.Entry         the final outcome in the results file: sent,
//	                      failed, unknown or skipped
//
// # The row pipeline (each)
//
// Check, Render, Messages and Send all walk the list with each, which runs
// three stages joined by two bounded channels of batches (32 rows each):
//
//   - The reader, one goroutine running feed, reads the list in order with a
//     rowReader and sends every batch first to ordered, then to work. That
//     goroutine owns both channels and closes them when the list ends, when
//     it fails, or when the context is cancelled.
//   - The composers, one per core, take batches from work in any order and
//     compose each row (walk says how far: validate, build the message, or
//     build and write it out), then close the batch's done.
//   - The consumer is the caller's goroutine: it takes batches from ordered,
//     in list order, waits for done, and hands each row to fn. fn returning
//     an error cancels the context and drains ordered so the reader ends.
//
// Both channels hold 2 batches per core, so memory stays flat however long
// the list. A problem with one row travels as row.err and the walk goes on;
// a problem with the list as a whole ends it and is returned (rowProblem in
// rows.go is the one place that tells the two apart; Message uses it too).
//
// A campaign loaded with Options.Rows still walks every row: the reader
// marks those outside the selection, the composers give them only their
// address (prepare: the To template alone), and each consumer looks at
// them for what protects the whole list alone
// (check: duplicate addresses; plan and the runner: a row whose address
// changed since the results file recorded it), never reporting, rendering,
// sending or recording them.
//
// A campaign loaded with Options.Shard works the same way: the rows whose
// address hashes to another shard (ShardOf) are outside, and the run
// records in that shard's own results file. Merge later walks the list
// once and takes each row's line from the one shard file that should
// hold it, refusing a row that is missing, in two files or in the wrong
// one.
//
// A resume walks the list with eachSettled: a row the results file already
// holds for good (sent, failed or unknown, unless --retry-failed or
// --resend-unknown) gets only its address too, enough to see that the row
// is still the same recipient, so a resume or a shard costs what it sends,
// not what the list holds.
//
// # Send
//
// Send runs in steps: read the settings (settings, the same that Check
// reports on), check the whole list (nothing is sent unless every row is
// valid, or --skip-invalid), open the results file (refusing to mix runs
// without --resume or --restart), show the plan when SendOptions.Confirm
// asks for it (plan.go: one more walk of the list counts the rows this run
// sends; a refusal removes a results file this run created and rotates
// nothing), ask for the password and log in once (a refused login sends
// nothing, counts the rows it leaves as remaining with the runner's
// countOnly, and leaves no new results file), then hand over to a runner.
//
// A campaign loaded with Options.RedirectTo makes test sends: compose
// rewrites each message for that one address (check still validates the
// real ones), and Send records them in results.test.csv beside the results
// file, starting it over unless --resume, so the real run never sees them.
//
// The runner sends through one or more relays: [smtp] alone, every
// [[relays]] table, or the sandbox in their place. Each relay has its own
// delivery.Pool, throttle.Limiter, workers and queue. The runner has four
// kinds of goroutine:
//
//   - The producer is the consumer of an each that writes messages out
//     (produce, on the caller's goroutine). For each row it decides, from the
//     results file, whether this run sends it, and queues a job on jobs.
//   - The dispatcher (dispatch) takes each job from jobs and puts it on the
//     queue of a relay that is up, chosen by weight (pick: a smooth
//     weighted round robin). A full queue holds it back, unless that relay
//     goes out meanwhile, when it chooses again. When jobs is closed it
//     closes every relay's queue. With one relay there is no dispatcher:
//     jobs is that relay's queue, which saves a hand-over per message.
//   - The workers (each relay's workers, [send] workers or --workers by
//     default) each own one delivery.Session of their relay for their whole
//     life and close it when its queue is closed. A worker takes a job,
//     waits for its relay's limiter, and calls Session.Send.
//   - A retry goroutine per deferred job sleeps through the backoff and
//     queues the job on jobs again, for any relay.
//
// jobs is owned by run: the producer, the retry goroutines and redispatch
// send on it, so run closes it only when the producer has returned and
// pending, the count of jobs neither final nor abandoned, is zero.
//
// # Relays out and back
//
// With several relays, a result that speaks of the relay rather than the
// message (relayFailed: a connection, TLS or login that failed, a Fatal,
// or the third 421 in a row) takes that relay out for its backoff (5 s,
// doubling to 5 min while it keeps failing; a delivery resets it). A job
// whose message never reached the end of DATA there goes back to jobs at
// once (redispatch) without using up an attempt; jobs still on the out
// relay's queue are handed back the same way by its workers. The relay gets
// jobs again when its backoff ends; if every relay is out when the
// dispatcher needs one, the run stops (everyRelayOut) and --resume sends
// the rest. An Unknown result is never moved: it is recorded unknown, with
// its relay, like any other. With a single relay none of this applies: its
// failures are retried and counted like any temporary failure.
//
// # Where an outcome is recorded
//
// Session.Send calls the runner back twice. beforeEnd calls journal.Begin
// right before the buffer holding the message's final dot is written: a
// crash after that leaves the row "unknown" on the next run, never sent
// twice. If Begin fails, the dot is not sent and the run stops. done gets
// the delivery.Result and calls outcome, which either retries, or calls
// record, which calls journal.Record with the final journal.Entry, counts it
// and reports Progress. Rows never sent (skipped invalid rows) are recorded
// by the producer. The results file is synced every 2 s and closed at the
// end.
//
// # Why message N's outcome arrives in the Send of message N+1
//
// With a server that offers PIPELINING, a Session keeps message N's final
// dot in its write buffer and sends it in the same write as message N+1's
// MAIL, RCPT and DATA (RFC 2920): one round trip per message instead of
// two. The reply to N's dot is read before the replies to N+1's commands,
// so N's done, and with it outcome and journal.Record, runs inside
// Session.Send of N+1, on the same worker goroutine; journal.Begin of N
// runs there too, right before that write. Hence:
//
//   - outcome must not use the session; a retry is queued on a goroutine.
//   - A worker calls Flush before it blocks, when no job is queued and while
//     the rate limiter makes it wait (WaitOr), so no outcome is held back
//     while nothing is being sent. Close flushes the last one.
//   - Progress counts lag by at most one message per worker.
//
// # How stop, --limit, retry and slow-down travel
//
//   - Stop: runner.stop closes halt, once, with the reason for the summary.
//     It is called on an interrupt (SendOptions.Stop), a Fatal result (a
//     refused login, a broken server), a results file that cannot be
//     written or synced (resultsFailed, which the summary reports with
//     ResultsErr), stop_after_failures failures of the server or account
//     in a row (refusesEverything: a refusal of one mailbox neither counts
//     nor breaks the streak; 0 never stops), or a list that
//     cannot be read or changed under --resume. After halt the producer counts rows as
//     remaining instead of queuing them, workers abandon the jobs they take
//     (abandon: counted remaining, left for --resume), retry goroutines wake
//     and abandon, and the limiter's wait ends. Messages already handed to a
//     Session finish and are recorded. Cancelling the context instead closes
//     the connections at once: a message whose end had gone out is recorded
//     unknown.
//   - --limit is counted by the producer: after Limit jobs it queues no more
//     and counts the rest as remaining. Retries are not new jobs.
//   - Retry: a Deferred result, or a Delivered one with some recipients
//     deferred (those alone are retried), goes back to jobs after
//     retry_delay doubled per attempt (at most 5 min) plus jitter, until
//     attempts run out; then it is recorded failed, or sent with the
//     deferred recipients named as not delivered.
//   - Slow-down: a result with Throttle (421, or 45x about rates) calls
//     the relay's throttle.Limiter.SlowDown, which halves its pace (not an
//     hourly or daily cap) for 20 s at a time for every worker of that
//     relay, since they share the limiter.
//   - Cap waits: when an hourly or daily cap is full, the limiter tells
//     capWait before the worker sleeps, and Progress carries WaitingUntil
//     (the earliest of the waiting workers' times) until it has passed.
package campaign
