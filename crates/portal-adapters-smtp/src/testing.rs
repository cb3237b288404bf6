//! A small SMTP server for the tests: it speaks enough of RFC 5321 over a
//! real socket (greeting, EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT) to receive what lettre sends, records every message's raw
//! data, and can be told to reject (550), defer (451) or stay silent, or be
//! stopped and started again on the same port.
//!
//! Test support (feature `testing`), shared with the HTTP service's tests.

// Test support: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// `550` to every `RCPT TO`.
    Reject,
    /// `451` to every `RCPT TO`.
    Defer,
    /// Accepts connections and never says a word.
    Silent,
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
    /// `(username, password)` when the client authenticated.
    pub auth: Option<(String, String)>,
    /// The name the client gave in `EHLO` (or `HELO`).
    pub helo: Option<String>,
}

#[derive(Debug)]
struct State {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
}

#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: Option<JoinSet<()>>,
}

impl SmtpSink {
    /// A sink on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Accept),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let mut sink = Self {
            addr,
            state,
            tasks: None,
        };
        sink.serve(listener);
        sink
    }

    fn serve(&mut self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let state = self.state.clone();
        tasks.spawn(async move {
            // Connections live in the accept task's set, so that stopping
            // the sink drops them too.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                connections.spawn(async move {
                    let _ = converse(stream, &state).await;
                });
            }
        });
        self.tasks = Some(tasks);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `count` messages have arrived (at most 5 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            let arrived = self.state.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::select! {
                () = arrived => {}
                () = &mut deadline => panic!("{} of {count} messages arrived", received.len()),
            }
        }
    }

    /// Closes the listening socket and every connection: the port refuses
    /// connections until [`SmtpSink::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Listens on the same port again.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = bind(self.addr);
        self.serve(listener);
    }
}

fn bind(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(64).unwrap()
}

/// A port on which nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn converse(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    if *state.mode.lock().unwrap() == Mode::Silent {
        std::future::pending::<()>().await;
    }
    writer.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut auth = None;
    let mut helo = None;
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    loop {
        let Some(line) = read_line(&mut reader).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            helo = line.get(5..).map(|name| name.trim().to_owned());
        }
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 AUTH PLAIN\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            let initial = line["AUTH PLAIN".len()..].trim().to_owned();
            let response = if initial.is_empty() {
                writer.write_all(b"334 \r\n").await?;
                read_line(&mut reader).await?.unwrap_or_default()
            } else {
                initial
            };
            auth = decode_plain(&response);
            if auth.is_some() {
                b"235 2.7.0 Authentication successful\r\n"
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            }
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = Some(path(&line["MAIL FROM:".len()..]));
            rcpt_to.clear();
            b"250 2.1.0 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            match *state.mode.lock().unwrap() {
                Mode::Reject => b"550 5.1.1 Mailbox unavailable\r\n",
                Mode::Defer => b"451 4.3.0 Try again later\r\n",
                Mode::Accept | Mode::Silent => {
                    rcpt_to.push(path(&line["RCPT TO:".len()..]));
                    b"250 2.1.5 OK\r\n"
                }
            }
        } else if upper == "DATA" {
            if mail_from.is_none() || rcpt_to.is_empty() {
                b"503 5.5.1 Bad sequence of commands\r\n"
            } else {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                state.received.lock().unwrap().push(Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    auth: auth.clone(),
                    helo: helo.clone(),
                });
                state.arrived.notify_waiters();
                b"250 2.0.0 Queued\r\n"
            }
        } else if upper == "RSET" {
            mail_from = None;
            rcpt_to.clear();
            b"250 2.0.0 OK\r\n"
        } else if upper == "NOOP" {
            b"250 2.0.0 OK\r\n"
        } else if upper == "QUIT" {
            writer.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.2 Command not recognized\r\n"
        };
        writer.write_all(reply).await?;
    }
}

async fn read_line(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
    ))
}

/// The message up to the lone `.`, with dot-stuffing undone.
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

/// `<a@b.c> BODY=8BITMIME` → `a@b.c`.
fn path(arg: &str) -> String {
    let arg = arg.trim();
    let end = arg.find('>').map_or(arg.len(), |i| i + 1);
    arg[..end]
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// SASL PLAIN: base64 of `authzid \0 username \0 password`.
fn decode_plain(response: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut fields = text.split('\0');
    let _authzid = fields.next()?;
    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
}
