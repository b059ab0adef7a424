//! A real `redis-server` for the cluster tests: on a free loopback port,
//! without persistence, with the cluster's least-privilege ACL user, an
//! admin user for the tests' own looking, and the default user off.
//! Stopped by its pid (our own unreaped child) when dropped, so a test
//! that panics leaves no server behind.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ACL the cluster documents, as a `user` line's rules.
pub const LEAST_PRIVILEGE: &str = "resetkeys ~fp:* resetchannels -@all +@connection +@stream +del +exists +pexpire \
                                   +time +zadd +zrange +zrem +zremrangebyscore -@dangerous";

/// A running server; see the module docs.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server whose `fp` user has exactly [`LEAST_PRIVILEGE`].
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra `user NAME on >PASSWORD RULES` lines.
    pub fn start_with(extra_users: &[(&str, &str, &str)]) -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = RedisServer::try_start(extra_users, &[]) {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed?)");
    }

    /// Starts a server with extra configuration lines (e.g. TLS).
    pub fn start_configured(lines: &[String]) -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = RedisServer::try_start(&[], lines) {
                return server;
            }
        }
        panic!("redis-server did not start (is it installed?)");
    }

    fn try_start(extra_users: &[(&str, &str, &str)], lines: &[String]) -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let dir = std::env::temp_dir().join(format!("forkpool-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mut conf = format!(
            "bind 127.0.0.1\nport {port}\nsave \"\"\nappendonly no\ndir {}\ndaemonize no\nlogfile \"\"\n\
             user default off\n\
             user admin on >admin-secret ~* &* +@all\n\
             user fp on >fp-secret {LEAST_PRIVILEGE}\n",
            dir.display()
        );
        for (name, password, rules) in extra_users {
            conf.push_str(&format!("user {name} on >{password} {rules}\n"));
        }
        for line in lines {
            conf.push_str(line);
            conf.push('\n');
        }
        let conf_path = dir.join("redis.conf");
        std::fs::File::create(&conf_path)
            .ok()?
            .write_all(conf.as_bytes())
            .ok()?;
        let child = Command::new("redis-server")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run redis-server (is it installed?)");
        let mut server = RedisServer {
            child: Some(child),
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = server.child.as_mut().map(Child::try_wait) {
                return None; // the port was taken meanwhile
            }
            if let Ok(mut c) = redis::Client::open(server.admin_url()).and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server and starts it again on the same port, with the
    /// same configuration and no data (as a broker restarted without
    /// persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Starts the server again on its port after [`kill`](Self::kill).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let child = Command::new("redis-server")
                .arg(self.dir.join("redis.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run redis-server");
            self.child = Some(child);
            let up = Instant::now() + Duration::from_secs(5);
            while Instant::now() < up {
                if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                    break; // the port is still held: try again
                }
                if let Ok(mut c) = redis::Client::open(self.admin_url()).and_then(|c| c.get_connection())
                    && redis::cmd("PING").query::<String>(&mut c).is_ok()
                {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    /// The cluster user's URL.
    pub fn url(&self) -> String {
        format!("redis://fp:fp-secret@127.0.0.1:{}/0", self.port)
    }

    /// A URL for user `name`.
    pub fn url_for(&self, name: &str, password: &str) -> String {
        format!("redis://{name}:{password}@127.0.0.1:{}/0", self.port)
    }

    /// The admin's URL.
    pub fn admin_url(&self) -> String {
        format!("redis://admin:admin-secret@127.0.0.1:{}/0", self.port)
    }

    /// A connection as the admin.
    pub fn admin(&self) -> redis::Connection {
        let c = redis::Client::open(self.admin_url()).unwrap().get_connection().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    /// Every key in the database (SCAN).
    pub fn keys(&self) -> Vec<String> {
        let mut conn = self.admin();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys
    }

    /// The server's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
