//! Talking to Redis: connecting, telling a wrong password or a missing
//! permission apart from an unreachable server (one clear error at
//! `build()`), and the server's clock.
//!
//! Every connection is the blocking `redis` crate's, with read and write
//! timeouts, so that a broker that stops answering is an error after a
//! bounded time, never a hang.

use std::time::{Duration, Instant};

use redis::{Connection, RedisError, Value};

use crate::error::{Error, ErrorKind};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The TLS settings of a builder (used with `rediss://` URLs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tls {
    /// A CA certificate (PEM) to trust instead of the system's roots.
    #[cfg_attr(not(feature = "tls"), expect(dead_code))]
    pub(crate) root_cert: Option<Vec<u8>>,
}

/// A broker's address and credentials, from which connections are made.
pub(crate) struct Broker {
    client: redis::Client,
    /// The URL without its password, for messages.
    shown: String,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Checks the URL (without connecting).
    pub(crate) fn new(url: &str, tls: &Tls) -> Result<Broker, Error> {
        let shown = redact(url);
        let invalid = |why: String| Error::new(ErrorKind::InvalidConfig, why);
        if url.starts_with("rediss://") && !cfg!(feature = "tls") {
            return Err(invalid(format!(
                "{shown}: `rediss://` needs TLS, which this build of forkpool leaves out: enable its `tls` feature"
            )));
        }
        let client = open(url, tls).map_err(|e| invalid(format!("{shown} is not a usable Redis URL: {e}")))?;
        Ok(Broker { client, shown })
    }

    /// The URL, without its password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// A new connection whose calls fail after `io_timeout` without an
    /// answer.
    pub(crate) fn connect(&self, io_timeout: Duration) -> Result<Connection, Error> {
        let conn = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| self.error("cannot connect to the Redis broker", &e))?;
        conn.set_read_timeout(Some(io_timeout))
            .and_then(|()| conn.set_write_timeout(Some(io_timeout)))
            .map_err(|e| self.error("cannot set timeouts on the Redis connection", &e))?;
        Ok(conn)
    }

    /// An error about this broker: `Permission` for a refused user or
    /// command, `Broker` for the rest.
    pub(crate) fn error(&self, what: &str, e: &RedisError) -> Error {
        let kind = if is_permission(e) {
            ErrorKind::Permission
        } else {
            ErrorKind::Broker
        };
        let hint = match kind {
            ErrorKind::Permission if needs_login(e) => format!("; {LOGIN_ADVICE}"),
            ErrorKind::Permission => {
                "; check the user name and password in the URL, and that the user's ACL allows the \
                                      commands and `fp:*` keys listed in forkpool::cluster's docs"
                    .to_owned()
            }
            _ => String::new(),
        };
        Error::new(kind, format!("{what} at {}: {e}{hint}", self.shown))
    }
}

#[cfg(feature = "tls")]
fn open(url: &str, tls: &Tls) -> redis::RedisResult<redis::Client> {
    match (&tls.root_cert, url.starts_with("rediss://")) {
        (Some(root), true) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            },
        ),
        _ => redis::Client::open(url),
    }
}

#[cfg(not(feature = "tls"))]
fn open(url: &str, _: &Tls) -> redis::RedisResult<redis::Client> {
    redis::Client::open(url)
}

/// A thread's connection to the broker, made again when it breaks (at most
/// every 100 ms), with how long the broker has been unreachable.
pub(crate) struct Link {
    conn: Option<Connection>,
    io_timeout: Duration,
    failing_since: Option<Instant>,
    last_attempt: Option<Instant>,
    /// The pause before the next attempt: doubles from 100 ms to
    /// [`MAX_BACKOFF`] while the broker cannot be reached.
    backoff: Duration,
    reconnected: bool,
}

/// The first pause between attempts to reach a broker that went away.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Why [`Link::get`] has no connection: the last error, and how long the
/// broker has been unreachable.
pub(crate) struct Down {
    pub(crate) error: Error,
    pub(crate) for_how_long: Duration,
}

impl Link {
    pub(crate) fn new(conn: Connection, io_timeout: Duration) -> Link {
        Link {
            conn: Some(conn),
            io_timeout,
            failing_since: None,
            last_attempt: None,
            backoff: MIN_BACKOFF,
            reconnected: false,
        }
    }

    /// A link with no connection yet: [`get`](Self::get) makes it, with
    /// the same backoff as a reconnection.
    pub(crate) fn unconnected(io_timeout: Duration) -> Link {
        Link {
            conn: None,
            io_timeout,
            failing_since: None,
            last_attempt: None,
            backoff: MIN_BACKOFF,
            reconnected: false,
        }
    }

    /// Takes the link's connection, if it has one.
    pub(crate) fn take(&mut self) -> Option<Connection> {
        self.conn.take()
    }

    /// The connection, reconnecting if it broke.
    pub(crate) fn get(&mut self, broker: &Broker) -> Result<&mut Connection, Down> {
        if self.conn.is_none() {
            let since = *self.failing_since.get_or_insert_with(Instant::now);
            if let Some(wait) = self.last_attempt.and_then(|t| self.backoff.checked_sub(t.elapsed())) {
                std::thread::sleep(wait);
            }
            if self.last_attempt.is_some() {
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
            self.last_attempt = Some(Instant::now());
            match broker.connect(self.io_timeout) {
                Ok(conn) => {
                    self.conn = Some(conn);
                    self.failing_since = None;
                    self.last_attempt = None;
                    self.backoff = MIN_BACKOFF;
                    self.reconnected = true;
                }
                Err(error) => {
                    return Err(Down {
                        error,
                        for_how_long: since.elapsed(),
                    });
                }
            }
        }
        match self.conn.as_mut() {
            Some(conn) => Ok(conn),
            None => Err(Down {
                error: Error::new(ErrorKind::Broker, "no connection to the broker"),
                for_how_long: Duration::ZERO,
            }),
        }
    }

    /// Drops the connection, to be made again at the next [`get`](Self::get)
    /// (at once): another thread found the broker restarted, so this
    /// connection is most likely dead, and finding out by sending a task
    /// on it would lose the task.
    pub(crate) fn forget(&mut self) {
        if self.conn.take().is_some() {
            self.last_attempt = None;
        }
    }

    /// Whether the connection was made again since the last call.
    pub(crate) fn take_reconnected(&mut self) -> bool {
        std::mem::take(&mut self.reconnected)
    }

    /// A call failed: drops the connection if the error says it is
    /// unusable; returns whether it did.
    pub(crate) fn failed(&mut self, e: &RedisError) -> bool {
        let broken = is_connection_error(e);
        if broken {
            self.conn = None;
            self.failing_since.get_or_insert_with(Instant::now);
        }
        broken
    }
}

/// Whether the broker refused the user or a command.
pub(crate) fn is_permission(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOPERM" | "WRONGPASS" | "NOAUTH"))
}

/// Whether the broker asks for a login the URL did not give (`NOAUTH`):
/// the user's ACL is not the problem then, the URL is.
fn needs_login(e: &RedisError) -> bool {
    e.code() == Some("NOAUTH")
}

/// What to do about [`needs_login`].
const LOGIN_ADVICE: &str = "the broker requires a password and the URL gives none: \
                            write it in the URL, as redis://USER:PASSWORD@HOST:PORT/ (or redis://:PASSWORD@HOST:PORT/ \
                            for the default user)";

/// Whether the error means the connection is unusable (as opposed to one
/// command failing).
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// `redis://user:***@host/`: the URL with its password hidden.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_owned()
            };
            format!("{scheme}://{hidden}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Runs every command the cluster uses once, against throw-away keys, so
/// that an ACL missing one of them is reported at `build()`/`run()` rather
/// than as a failure in the middle of the work.
///
/// Two rounds: first the commands that create nothing (on keys that do not
/// exist), among them `DEL`; only if all pass, the ones that make keys,
/// which end by deleting them.
pub(crate) fn check_permissions(broker: &Broker, conn: &mut Connection, id: &str) -> Result<(), Error> {
    let stream = format!("fp:{{{id}}}:probe");
    let zset = format!("fp:{{{id}}}:probe-z");
    let mut harmless = redis::pipe();
    harmless
        .cmd("TIME")
        .cmd("DEL")
        .arg(&stream)
        .arg(&zset)
        .cmd("EXISTS")
        .arg(&stream)
        .cmd("PEXPIRE")
        .arg(&stream)
        .arg(10_000)
        .cmd("ZRANGE")
        .arg(&zset)
        .arg(0)
        .arg("+inf")
        .arg("BYSCORE")
        .cmd("ZREMRANGEBYSCORE")
        .arg(&zset)
        .arg("-inf")
        .arg(0)
        .cmd("ZREM")
        .arg(&zset)
        .arg("m")
        .cmd("XREAD")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg("0")
        .cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .cmd("XADD")
        .arg(&stream)
        .arg("NOMKSTREAM")
        .arg("*")
        .arg("a")
        .arg("1");
    let harmless_names = [
        "TIME",
        "DEL",
        "EXISTS",
        "PEXPIRE",
        "ZRANGE BYSCORE",
        "ZREMRANGEBYSCORE",
        "ZREM",
        "XREAD",
        "XRANGE",
        "XADD NOMKSTREAM",
    ];
    probe(broker, conn, &mut harmless, &harmless_names)?;
    let mut making = redis::pipe();
    making
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("a")
        .arg("1")
        .cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("g")
        .arg("0")
        .cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .cmd("XCLAIM")
        .arg(&stream)
        .arg("g")
        .arg("c")
        .arg(0)
        .arg("0-1")
        .arg("JUSTID")
        .cmd("XPENDING")
        .arg(&stream)
        .arg("g")
        .arg("IDLE")
        .arg(0)
        .arg("-")
        .arg("+")
        .arg(1)
        .cmd("XACK")
        .arg(&stream)
        .arg("g")
        .arg("0-1")
        .cmd("XDEL")
        .arg(&stream)
        .arg("0-1")
        .cmd("XGROUP")
        .arg("DELCONSUMER")
        .arg(&stream)
        .arg("g")
        .arg("c")
        .cmd("ZADD")
        .arg(&zset)
        .arg(1)
        .arg("m")
        .cmd("DEL")
        .arg(&stream)
        .arg(&zset);
    let making_names = [
        "XADD",
        "XGROUP CREATE",
        "XREADGROUP",
        "XCLAIM",
        "XPENDING",
        "XACK",
        "XDEL",
        "XGROUP DELCONSUMER",
        "ZADD",
        "DEL",
    ];
    probe(broker, conn, &mut making, &making_names)
}

/// Runs one round of the permission check.
fn probe(broker: &Broker, conn: &mut Connection, pipe: &mut redis::Pipeline, names: &[&str]) -> Result<(), Error> {
    let replies: Vec<Value> = pipe
        .ignore_errors()
        .query(conn)
        .map_err(|e| broker.error("cannot check the Redis user's permissions", &e))?;
    for (name, reply) in names.iter().zip(&replies) {
        if let Value::ServerError(e) = reply {
            let e: RedisError = e.clone().into();
            let (kind, advice) = if needs_login(&e) {
                (ErrorKind::Permission, LOGIN_ADVICE)
            } else if is_permission(&e) {
                (
                    ErrorKind::Permission,
                    "grant it (the least-privilege ACL is in forkpool::cluster's docs)",
                )
            } else {
                (ErrorKind::Broker, "forkpool's cluster needs Redis 6.2 or later")
            };
            return Err(Error::new(
                kind,
                format!("the Redis broker at {} refused `{name}`: {e}; {advice}", broker.shown()),
            ));
        }
    }
    Ok(())
}

/// The broker's clock, read with `TIME` and advanced locally: every lease
/// in the directories is in the broker's milliseconds, so machines whose
/// clocks disagree still agree on who is alive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerClock {
    base_ms: u64,
    at: Instant,
}

impl ServerClock {
    pub(crate) fn read(conn: &mut Connection) -> redis::RedisResult<ServerClock> {
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query(conn)?;
        Ok(ServerClock {
            base_ms: secs.saturating_mul(1000).saturating_add(micros / 1000),
            at: Instant::now(),
        })
    }

    /// The broker's time now, in milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        self.base_ms
            .saturating_add(u64::try_from(self.at.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

/// Checks a builder's `max_message_size` (a Redis string holds at most
/// 512 MiB).
pub(crate) fn check_message_size(bytes: usize) -> Result<(), Error> {
    if (1024..=512 << 20).contains(&bytes) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidConfig,
            "max_message_size must be between 1 KiB and 512 MiB",
        ))
    }
}

/// A duration for messages: `30 s`, `2.5 s`, `400 ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{} ms", d.as_millis());
    }
    let tenths = d.as_millis().div_ceil(100);
    if tenths.is_multiple_of(10) {
        format!("{} s", tenths / 10)
    } else {
        format!("{}.{} s", tenths / 10, tenths % 10)
    }
}

/// A duration in whole milliseconds, at least 1.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_messages() {
        assert_eq!(
            redact("redis://app:secret@10.0.0.5:6379/0"),
            "redis://app:***@10.0.0.5:6379/0"
        );
        assert_eq!(redact("rediss://:secret@h/"), "rediss://:***@h/");
        assert_eq!(redact("redis://secret@h"), "redis://***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn durations_read_well_in_messages() {
        assert_eq!(human_duration(Duration::from_secs(30)), "30 s");
        assert_eq!(human_duration(Duration::from_millis(2_500)), "2.5 s");
        assert_eq!(human_duration(Duration::from_millis(400)), "400 ms");
    }

    #[test]
    fn bad_urls_are_config_errors() {
        let e = Broker::new("http://x", &Tls::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        if !cfg!(feature = "tls") {
            let e = Broker::new("rediss://u:pw@h/", &Tls::default()).unwrap_err();
            assert!(e.to_string().contains("`tls` feature"), "{e}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }
}
