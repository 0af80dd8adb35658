// Package license is the Go client of the Coditect floating license service:
// it acquires a seat of a license for this workstation, keeps it alive with
// heartbeats in the background and gives it back on Close.
//
// Every lease the service returns (on acquire and on every heartbeat) is
// verified offline against root public keys the application pins in
// [Config.RootKeys] (usually shipped with the product: a saved /v1/keys
// document read with [ParseRootKeys]). A lease that does not verify, or that
// names another session, license or workstation, is never taken as a seat.
// The format and its verification are package leasejws
// (sdk/leasejws, standard library only): use its [leasejws.Verifier] to
// check a lease from [Seat.Lease] again elsewhere. The SDK imports nothing of
// the server.
//
// # Life of a seat
//
// [Acquire] returns once a seat is held, or with the first failure (wrapped
// in an [*APIError] that matches [ErrNoSeats], [ErrLicenseNotFound],
// [ErrLicenseInactive], … with errors.Is). Answers that say "try again"
// (429, 502, 503, 504; and 409 when [Config.WaitForSeat] is set) are retried
// until the context ends, honouring Retry-After.
//
// After that the seat looks after itself:
//
//   - It heartbeats every heartbeat_interval_seconds (as the server says,
//     ±10% jitter); each heartbeat's lease is verified and replaces the
//     current one.
//   - When the server no longer knows the session (404 session_not_found:
//     it restarted, lost its Redis, or the session expired) the seat
//     acquires again, at once and then with exponential backoff and jitter
//     ([Config.MinBackoff] doubling up to [Config.MaxBackoff]). With the same
//     fingerprint the server resumes a live session rather than taking a
//     second seat.
//   - Every other failure (network errors, 429, 5xx, a lease that does not
//     verify, and on acquire 409 no seats or 401) is retried after
//     Retry-After, else with the same backoff; [Status.LastError] shows it.
//     Meanwhile the seat stays [Seat.Valid] as long as the current lease has
//     not expired: that is the offline grace, as long as the license's
//     lease_ttl_seconds. Once the lease expires [Seat.Valid] reports false
//     and the seat keeps trying to acquire again; it becomes valid again as
//     soon as it succeeds.
//   - 403 license_inactive, 404 license_not_found, 403
//     workstation_blocked (on acquire or heartbeat: an admin blocked this
//     workstation, which also ends its live sessions) and 403
//     session_revoked (an admin ended this session, alone or with every
//     session of the license) lose the seat for good: [Seat.Valid] is
//     false, [Seat.Done] is closed and [Seat.Err] says why
//     ([ErrLicenseInactive], [ErrLicenseNotFound], [ErrWorkstationBlocked],
//     [ErrSessionRevoked]). None is retried: acquire again once the license
//     is usable, or when the application decides a revoked seat may be
//     taken again.
//   - Several processes of one workstation share its one seat: each
//     [Seat] is its own holder (a random [Config.InstanceID] per
//     [Acquire]), so closing one Seat gives back only its own hold, and the
//     seat frees when the last holder on the workstation closes. A license
//     may bound the holders of one seat (max_instances_per_seat): one more
//     is 409 instance_limit, [ErrInstanceLimit] (which also matches
//     [ErrNoSeats], so [Config.WaitForSeat] waits for a holder to leave).
//   - After an admin rotates the license key the old key keeps opening the
//     license for the grace the admin chose; a seat already held keeps
//     heartbeating. Configure the new key ([Config.LicenseKey]) before the
//     grace ends.
//
// [Seat.Close] stops the heartbeats and releases the seat. [Seat.Changed]
// signals every change of [Seat.Status], for applications that show it.
//
// # Borrowing a seat for offline use
//
// With [Config.BorrowFile] set, [Seat.Borrow] checks the seat out until a
// chosen end (the license's borrow policy bounds it), and the seat needs no
// server until then:
//
//   - Borrow makes an Ed25519 device key, asks the server to borrow the
//     session under its public half, verifies the borrow lease (pinned
//     roots; "borrow": true; "cnf" the device key; this session, license
//     and workstation; exp the answer's borrowed_until) and writes lease,
//     session id and device private key to BorrowFile: created 0600, written
//     to a temporary file beside it, fsynced and renamed over it, so a crash
//     leaves the old file or the new one. The heartbeats stop (the server
//     refuses them while the seat is borrowed) and [Status] says Borrowed
//     until BorrowedUntil. Borrowing again extends the borrow with the same
//     device key, from this Seat or from the file. A first borrow whose lease
//     is rejected or that cannot be written is returned at once.
//   - [OpenBorrowed] (and [Acquire], which reads BorrowFile first) gets the
//     borrowed seat back in a later run with no network at all: the lease
//     is verified with [leasejws.Verifier.VerifyBorrow] (a borrow lease is
//     signed by a pinned root itself, as a certificate is, so it needs no
//     delegation), and its "cnf" against the public half of the
//     stored device key. On Unix a file other users may read or write is
//     refused ([ErrBorrowFile]): it holds the device key and the session id.
//     The seat is [Seat.Valid] until the borrow ends by [Config.Now]; then
//     Done closes with [ErrBorrowEnded] and the file is removed.
//   - A borrowed seat fetches the license's signed revocation list when
//     opened and about every [RevocationInterval] ([Seat.CheckRevocations]
//     at any time): when it names the session, the seat ends at once with
//     [ErrSessionRevoked] and the file is removed. An unreachable server, or
//     a list that does not verify, leaves the borrow valid: offline is what
//     a borrow is for.
//   - [Seat.Return] gives the seat back early with a proof signed by the
//     device key, removes the file and ends the seat. [Seat.Close] of a
//     borrowed seat keeps the borrow.
//   - Processes of one workstation that share a seat should share its
//     BorrowFile: when one borrows, another whose heartbeat hears
//     409 session_borrowed takes the borrow over from the file.
//
// The file names the server it was borrowed from for people reading it;
// calls always go to [Config.BaseURL].
//
// Lease times are compared with this machine's clock ([Config.Now]): a
// clock far off the server's makes fresh leases look expired (or not yet
// issued) and Acquire fails with [ErrInvalidLease].
//
// A Seat is safe for concurrent use.
package license
