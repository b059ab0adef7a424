//! The cluster over TLS (`rediss://`, the `tls` feature), against a real
//! `redis-server` with a TLS port and a certificate made for the test by
//! `openssl`. The node runs in this process; SIGTERM to ourselves stops it
//! once its handler is known to be installed (it offers its functions only
//! after installing it).

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{temp_path, wait_for};
use forkpool::ErrorKind;
use forkpool::cluster::{Cluster, Node};
use redis_server::RedisServer;

#[forkpool::remote]
fn double(x: u64) -> u64 {
    x * 2
}

/// A CA, and a certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=forkpool test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"))
}

#[test]
fn the_cluster_works_over_rediss_and_refuses_what_it_cannot_verify() {
    let dir = temp_path("tls");
    let (ca, cert, key) = certificates(&dir);
    let tls_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = RedisServer::start_configured(&[
        format!("tls-port {tls_port}"),
        format!("tls-cert-file {}", cert.display()),
        format!("tls-key-file {}", key.display()),
        format!("tls-ca-cert-file {}", ca.display()),
        "tls-auth-clients no".into(),
    ]);
    let url = format!("rediss://fp:fp-secret@127.0.0.1:{tls_port}/0");
    let ca_pem = std::fs::read(&ca).unwrap();

    let node = {
        let (url, ca_pem) = (url.clone(), ca_pem.clone());
        std::thread::spawn(move || Node::builder(url).workers(1).tls_root_cert(ca_pem).run())
    };
    let offered = wait_for(Duration::from_secs(30), || {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg("fp:offer:cluster_tls::double")
            .arg(0)
            .arg(-1)
            .query(&mut server.admin())
            .unwrap();
        !members.is_empty()
    });
    assert!(offered, "the node never came up over TLS");

    let cluster = Cluster::builder(&url).tls_root_cert(ca_pem).build().unwrap();
    assert_eq!(cluster.submit(double, 21).join(), Ok(42));
    let sum: u64 = cluster.map(double, 0..1000).map(Result::unwrap).sum();
    assert_eq!(sum, 999 * 1000);
    cluster.shutdown();

    // Without the CA the certificate cannot be verified; and plain Redis
    // cannot talk to a TLS port. Both are errors, neither hangs.
    let e = Cluster::builder(&url).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker, "{e}");
    let plain = format!("redis://fp:fp-secret@127.0.0.1:{tls_port}/0");
    let e = Cluster::builder(plain)
        .node_timeout(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Broker, "{e}");

    // SIGTERM to ourselves: the node's handler (installed before it
    // offered anything) counts it, and `run` returns.
    // SAFETY: kill(2) on our own pid, with a handler installed.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    node.join().unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
