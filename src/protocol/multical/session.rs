//! The `/#n` poll as a [`PollSession`].
//!
//! For each request: `Configure(300 7E2)` → `Flush` → `Write("/#1" CR)` → `Configure(1200 7E2)` at once
//! (the reply can start after 0.3 s) → `Read` until CR → parse. `/#1` always; `/#2` when the
//! scaling or the identity is not known yet; `/#C` when asked for. A request that gets no
//! (valid) answer is repeated after a pause of at least 5 s, a bounded number of times
//! (team notes: "repeat a request no faster than every 5 s if no reply").

use std::time::Duration;

use super::decode::{decode, MulticalIdentity, Replies};
use super::failure::MulticalFailure;
use super::reply::{parse_hash1, parse_hash2, parse_hash_c, Hash1, Hash2, HashC, MAX_REPLY_LEN};
use super::scaling::Scaling;
use super::{Request, Terminator, CR, REPLY_LINE, REQUEST_LINE};
use crate::protocol::{Action, Event, PollError, PollSession};
use crate::time::Timestamp;

/// The shortest pause before repeating an unanswered request (team notes, "MULTICAL 401 /
/// 66C": no faster than every 5 s).
pub const MIN_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Poll options. `Default` gives CR terminator, no `/#C`, 2 retries, 5 s pause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulticalOptions {
    pub terminator: Terminator,
    /// Explicit scaling (wins over the program number). Without it, `/#2` is read.
    pub scaling: Option<Scaling>,
    /// Also read `/#C` (T3, P1, P2, flow V2).
    pub read_hash_c: bool,
    /// Meter id when no customer number is known (`/#2` not read).
    pub fallback_id: String,
    /// Extra attempts per request after the first one failed.
    pub retries: u8,
    /// Pause before repeating a request; raised to [`MIN_RETRY_PAUSE`] if lower.
    pub retry_pause: Duration,
    /// Time for the first reply byte after the switch to 1200 baud. The reply starts after
    /// about 0.3 s (notes); 2 s leaves room for USB heads' latency.
    pub reply_timeout: Duration,
    /// Longest silence between reply bytes (a 97-byte reply takes 0.9 s at 1200 7E2).
    pub char_timeout: Duration,
    /// Pause between two answered requests. No source gives a minimum; KenanV's sketch waits
    /// 30 s, we wait 1 s so the meter is back at 300 baud before the next request.
    pub request_gap: Duration,
}

impl Default for MulticalOptions {
    fn default() -> Self {
        MulticalOptions {
            terminator: Terminator::Cr,
            scaling: None,
            read_hash_c: false,
            fallback_id: "multical".into(),
            retries: 2,
            retry_pause: MIN_RETRY_PAUSE,
            reply_timeout: Duration::from_secs(2),
            char_timeout: Duration::from_secs(1),
            request_gap: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    ConfigRequest,
    Flushing,
    Writing,
    ConfigReply,
    Reading,
    Pausing,
    Finished,
}

/// One `/#n` poll of one meter.
pub struct MulticalSession {
    opts: MulticalOptions,
    known: Option<MulticalIdentity>,
    now: Timestamp,
    queue: Vec<Request>,
    current: usize,
    attempt: u8,
    state: State,
    buf: Vec<u8>,
    last_error: Option<PollError>,
    hash1: Option<Hash1>,
    hash2: Option<Hash2>,
    hash_c: Option<HashC>,
    result: Option<Result<Vec<crate::reading::Reading>, PollError>>,
}

impl MulticalSession {
    /// A poll at time `now`. `known` is what the caller kept from an earlier poll's `/#2`
    /// ([`MulticalSession::identity`]); pass `None` on the first poll or when it is stale, and
    /// `/#2` is read again unless `opts.scaling` is set.
    pub fn new(opts: MulticalOptions, known: Option<MulticalIdentity>, now: Timestamp) -> Self {
        let mut queue = vec![Request::Hash1];
        if opts.scaling.is_none() && known.is_none() {
            queue.push(Request::Hash2);
        }
        if opts.read_hash_c {
            queue.push(Request::HashC);
        }
        MulticalSession {
            opts,
            known,
            now,
            queue,
            current: 0,
            attempt: 0,
            state: State::Idle,
            buf: Vec::new(),
            last_error: None,
            hash1: None,
            hash2: None,
            hash_c: None,
            result: None,
        }
    }

    /// The identity to keep for the next poll: from this poll's `/#2`, else the one given.
    pub fn identity(&self) -> Option<MulticalIdentity> {
        self.hash2
            .as_ref()
            .map(MulticalIdentity::from_hash2)
            .or_else(|| self.known.clone())
    }

    /// The requests this poll sends, in order.
    pub fn requests(&self) -> &[Request] {
        &self.queue
    }

    fn request(&self) -> Request {
        self.queue
            .get(self.current)
            .copied()
            .unwrap_or(Request::Hash1)
    }

    fn start_request(&mut self) -> Action {
        self.buf.clear();
        self.state = State::ConfigRequest;
        Action::Configure(REQUEST_LINE)
    }

    fn finish(&mut self, r: Result<Vec<crate::reading::Reading>, PollError>) -> Action {
        self.state = State::Finished;
        self.result = Some(r.clone());
        Action::Finished(r)
    }

    fn failed(&mut self, e: PollError) -> Action {
        self.last_error = Some(e.clone());
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt > self.opts.retries {
            let (request, attempts) = (self.request(), self.attempt);
            return self.finish(Err(e.map(|failure| {
                MulticalFailure::Retried {
                    request,
                    attempts,
                    failure: Box::new(failure),
                }
                .into()
            })));
        }
        self.state = State::Pausing;
        Action::Sleep(self.opts.retry_pause.max(MIN_RETRY_PAUSE))
    }

    fn answered(&mut self) -> Action {
        self.current += 1;
        self.attempt = 0;
        if self.current < self.queue.len() {
            self.state = State::Pausing;
            return Action::Sleep(self.opts.request_gap);
        }
        let Some(h1) = self.hash1 else {
            return self.finish(Err(PollError::BadReply(MulticalFailure::NoHash1.into())));
        };
        let replies = Replies {
            hash1: &h1,
            hash2: self.hash2.as_ref(),
            hash_c: self.hash_c.as_ref(),
        };
        let r = decode(
            replies,
            self.opts.scaling.as_ref(),
            self.known.as_ref(),
            &self.opts.fallback_id,
            self.now,
        );
        match r {
            Ok(d) => self.finish(Ok(vec![d.reading])),
            Err(e) => self.finish(Err(PollError::BadReply(MulticalFailure::Scaling(e).into()))),
        }
    }

    fn on_input(&mut self, bytes: &[u8]) -> Action {
        self.buf.extend(bytes.iter().map(|b| b & 0x7F));
        loop {
            let Some(cr) = self.buf.iter().position(|&b| b == CR) else {
                if self.buf.len() > MAX_REPLY_LEN {
                    return self.failed(PollError::BadReply(
                        MulticalFailure::NoCr { max: MAX_REPLY_LEN }.into(),
                    ));
                }
                return Action::Read {
                    timeout: self.opts.char_timeout,
                };
            };
            let line: Vec<u8> = self.buf.drain(..=cr).collect();
            let trimmed: Vec<u8> = line
                .iter()
                .copied()
                .skip_while(|&b| b == 0 || b == b' ' || b == b'\n')
                .collect();
            // An optical head that echoes our request: skip the echoed `/#n` line.
            if trimmed.starts_with(b"/#") || trimmed == [CR] {
                continue;
            }
            let parsed = match self.request() {
                Request::Hash1 => parse_hash1(&line).map(|h| self.hash1 = Some(h)),
                Request::Hash2 => parse_hash2(&line).map(|h| self.hash2 = Some(h)),
                Request::HashC => parse_hash_c(&line).map(|h| self.hash_c = Some(h)),
                Request::Other(_) => Ok(()),
            };
            return match parsed {
                Ok(()) => self.answered(),
                Err(error) => self.failed(PollError::BadReply(
                    MulticalFailure::Reply {
                        request: self.request(),
                        line: String::from_utf8_lossy(&line).trim_end().to_string(),
                        error,
                    }
                    .into(),
                )),
            };
        }
    }
}

impl PollSession for MulticalSession {
    fn step(&mut self, event: Event<'_>) -> Action {
        match (self.state, event) {
            (State::Finished, _) => Action::Finished(
                self.result
                    .clone()
                    .unwrap_or(Err(PollError::BadReply(MulticalFailure::Finished.into()))),
            ),
            (State::Idle, Event::Start) => self.start_request(),
            (State::ConfigRequest, Event::Done) => {
                // Drop a late reply to an earlier attempt still sitting in the driver.
                self.state = State::Flushing;
                Action::Flush
            }
            (State::Flushing, Event::Done) => {
                self.state = State::Writing;
                Action::Write(self.request().encode(self.opts.terminator))
            }
            (State::Writing, Event::Done) => {
                // Switch at once: the meter may start answering 0.3 s after the request.
                self.state = State::ConfigReply;
                Action::Configure(REPLY_LINE)
            }
            (State::ConfigReply, Event::Done) => {
                self.state = State::Reading;
                Action::Read {
                    timeout: self.opts.reply_timeout,
                }
            }
            (State::Reading, Event::Input(b)) => self.on_input(b),
            (State::Reading, Event::Timeout) => {
                let e = if self.buf.iter().all(|&b| b == 0 || b == b' ') {
                    PollError::NoAnswer(
                        MulticalFailure::NoReply {
                            line: REPLY_LINE,
                            timeout: self.opts.reply_timeout,
                        }
                        .into(),
                    )
                } else {
                    PollError::BadReply(
                        MulticalFailure::CutOff(String::from_utf8_lossy(&self.buf).into_owned())
                            .into(),
                    )
                };
                self.failed(e)
            }
            (State::Pausing, Event::Done) => self.start_request(),
            (state, ev) => self.finish(Err(PollError::BadReply(
                MulticalFailure::UnexpectedEvent {
                    event: format!("{ev:?}"),
                    state: format!("{state:?}"),
                }
                .into(),
            ))),
        }
    }
}
