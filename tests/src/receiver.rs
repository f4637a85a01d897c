//! A real HTTP(S) receiver for tracer's webhook sink, on 127.0.0.1: it records every event line
//! it accepts, answers with the status a test chooses, checks a bearer token and, over TLS, a
//! client certificate, and can be stopped and started again on the same port.
//!
//! Hand-written over std's `TcpListener` (HTTP/1.1 with Content-Length, keep-alive) so that a
//! stop is exact: a request read whole is answered and recorded, one cut short is neither, so a
//! retried batch is never recorded twice.

use std::{
    io::{self, BufReader, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use flate2::read::GzDecoder;
use rustls::{
    ServerConfig, ServerConnection, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
};

use crate::tracer::TracerEvent;

/// A request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub authorization: Option<String>,
    /// Event lines in the body.
    pub events: usize,
}

#[derive(Default)]
struct Record {
    requests: Vec<Request>,
    /// The events of every request answered 2xx, in the order they arrived.
    events: Vec<TracerEvent>,
    /// Lines of accepted bodies that are not events.
    bad_lines: Vec<String>,
}

/// Picks the status of request number N (counting from 0, over every start).
pub type Answer = dyn Fn(usize) -> u16 + Send + Sync;

struct Shared {
    record: Mutex<Record>,
    changed: Condvar,
    answer: Box<Answer>,
    token: Option<String>,
    /// The receiver stops by itself once it has answered this many requests.
    stop_after: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Certificates made for one test: a CA, the receiver's certificate for 127.0.0.1 and a client
/// certificate, all signed by the CA; the CA and the client's written as PEM files.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server: Arc<ServerConfig>,
}

impl TestPki {
    pub fn new(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |name: &str| {
            let key = KeyPair::generate().expect("a key");
            let cert = CertificateParams::new(vec![name.to_owned()])
                .expect("params")
                .signed_by(&key, &issuer)
                .expect("a certificate signed by the CA");
            (cert, key)
        };
        let (server_cert, server_key) = leaf("127.0.0.1");
        let (client_cert, client_key) = leaf("tracer-client");
        std::fs::create_dir_all(dir).expect("a directory for the certificates");
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("writing a certificate file");
            path
        };
        let ca_file = write("ca.pem", ca.pem());
        let client_cert_file = write("client.pem", client_cert.pem());
        let client_key_file = write("client-key.pem", client_key.serialize_pem());

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("the CA as a root");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("a client verifier");
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from(server_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .expect("the receiver's certificate");
        Self {
            ca_file,
            client_cert: client_cert_file,
            client_key: client_key_file,
            server: Arc::new(server),
        }
    }
}

/// A running (or stopped) receiver. Dropping it stops it.
pub struct Receiver {
    addr: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    shared: Arc<Shared>,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<Connection>>>,
}

/// A connection's socket (to shut it down) and the thread serving it.
type Connection = (TcpStream, JoinHandle<()>);
/// A request's headers (name, value) and body.
type RawRequest = (Vec<(String, String)>, Vec<u8>);

impl Receiver {
    /// Starts on a free port of 127.0.0.1; `answer` picks each request's status (2xx: its
    /// events are recorded). With `token`, a request without `Authorization: Bearer TOKEN` is
    /// answered 401; with `pki`, it speaks TLS and requires a client certificate.
    pub fn start(
        answer: impl Fn(usize) -> u16 + Send + Sync + 'static,
        token: Option<&str>,
        pki: Option<&TestPki>,
    ) -> Self {
        let shared = Arc::new(Shared {
            record: Mutex::new(Record::default()),
            changed: Condvar::new(),
            answer: Box::new(answer),
            token: token.map(str::to_owned),
            stop_after: AtomicUsize::new(usize::MAX),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let mut receiver = Self {
            addr: listener.local_addr().expect("the receiver's address"),
            tls: pki.map(|p| Arc::clone(&p.server)),
            shared,
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// The URL to give `--webhook`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/events", self.addr)
    }

    /// Makes the receiver stop by itself, as [`Receiver::stop`] does, right after it has
    /// answered `requests` requests in all; [`Receiver::wait_for`] them, then
    /// [`Receiver::stop`] waits for the stop to be complete.
    pub fn stop_after(&self, requests: usize) {
        self.shared.stop_after.store(requests, Ordering::SeqCst);
    }

    /// Stops taking connections and closes each once its request in progress is answered.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        let _ = running.accept.join();
        let connections = std::mem::take(&mut *running.connections.lock().unwrap());
        for (stream, _) in &connections {
            // Reading stops; a response being written still goes out.
            let _ = stream.shutdown(Shutdown::Read);
        }
        for (_, thread) in connections {
            let _ = thread.join();
        }
    }

    /// Starts again on the same port.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "the receiver is running");
        let listener = TcpListener::bind(self.addr)
            .unwrap_or_else(|e| panic!("binding {} again: {e}", self.addr));
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let stop = Arc::clone(&stop);
            let connections = Arc::clone(&connections);
            let shared = Arc::clone(&self.shared);
            let tls = self.tls.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(false).expect("a blocking stream");
                            let Ok(handle) = stream.try_clone() else {
                                continue;
                            };
                            let shared = Arc::clone(&shared);
                            let tls = tls.clone();
                            let stop = Arc::clone(&stop);
                            let Ok(closer) = stream.try_clone() else {
                                continue;
                            };
                            let thread = std::thread::spawn(move || {
                                serve_connection(stream, tls, &shared, &stop);
                                // The list of connections holds the socket open too: the
                                // client must see it close.
                                let _ = closer.shutdown(Shutdown::Both);
                            });
                            connections.lock().unwrap().push((handle, thread));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        self.running = Some(Running {
            stop,
            accept,
            connections,
        });
    }

    /// The events accepted so far.
    pub fn events(&self) -> Vec<TracerEvent> {
        self.shared.lock().events.clone()
    }

    pub fn event_count(&self) -> usize {
        self.shared.lock().events.len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// Lines of accepted bodies that were not events.
    pub fn bad_lines(&self) -> Vec<String> {
        self.shared.lock().bad_lines.clone()
    }

    /// Waits until `done` holds for (accepted events, requests) or `timeout` passes.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[TracerEvent], &[Request]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut record = self.shared.lock();
        loop {
            if done(&record.events, &record.requests) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            record = self
                .shared
                .changed
                .wait_timeout(record, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(
    stream: TcpStream,
    tls: Option<Arc<ServerConfig>>,
    shared: &Shared,
    stop: &AtomicBool,
) {
    match tls {
        Some(config) => {
            let Ok(connection) = ServerConnection::new(config) else {
                return;
            };
            serve_requests(StreamOwned::new(connection, stream), shared, stop);
        }
        None => serve_requests(stream, shared, stop),
    }
}

fn serve_requests(stream: impl Read + Write, shared: &Shared, stop: &AtomicBool) {
    let mut stream = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let Some((headers, body)) = read_request(&mut stream) else {
            return;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let authorization = header("authorization");
        let content_encoding = header("content-encoding");
        let mut record = shared.lock();
        let wanted = shared.token.as_ref().map(|t| format!("Bearer {t}"));
        let status = if wanted.is_some() && authorization != wanted {
            401
        } else {
            (shared.answer)(record.requests.len())
        };
        let text = if content_encoding.as_deref() == Some("gzip") {
            let mut text = String::new();
            let _ = GzDecoder::new(&body[..]).read_to_string(&mut text);
            text
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\n\r\n",
            if (200..300).contains(&status) {
                "OK"
            } else {
                "No"
            }
        );
        // Answered before it is recorded as accepted: a batch whose answer cannot be written is
        // one the sender will send again, so it must not count yet.
        let answered = stream
            .get_mut()
            .write_all(response.as_bytes())
            .and_then(|()| stream.get_mut().flush())
            .is_ok();
        if !answered {
            return;
        }
        if (200..300).contains(&status) {
            for line in &lines {
                match TracerEvent::parse(line) {
                    Ok(event) => record.events.push(event),
                    Err(error) => record.bad_lines.push(format!("{line} <- {error}")),
                }
            }
        }
        record.requests.push(Request {
            status,
            content_type: header("content-type"),
            content_encoding,
            authorization,
            events: lines.len(),
        });
        if record.requests.len() == shared.stop_after.load(Ordering::SeqCst) {
            // Once: a restarted receiver keeps running.
            shared.stop_after.store(usize::MAX, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        }
        drop(record);
        shared.changed.notify_all();
    }
}

/// Reads one request's headers and Content-Length body; None at the end of the connection.
fn read_request(stream: &mut impl io::BufRead) -> Option<RawRequest> {
    let mut line = String::new();
    if stream.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some((headers, body))
}
