//! A real SMTP receiver on loopback for the digest tests (this crate's and,
//! through `#[path]`, the CLI's): 220 greeting, EHLO/HELO, MAIL FROM, RCPT
//! TO, DATA with dot-unstuffing, RSET, NOOP, QUIT; each message kept with
//! its envelope. It can refuse every message at the end of DATA (554), as
//! a server that rejects the mail does. One thread per connection; bounded
//! by read timeouts and a message-size cap, and stopped on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest message the receiver keeps (larger ones get 552).
const MAX_MESSAGE: usize = 4 << 20;

/// What the receiver answers at the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    /// `554 5.7.1` for every message.
    RejectData,
}

/// One message as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent, dot-unstuffed, lines joined by CRLF.
    pub data: String,
}

impl Received {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push_str(line.trim_start());
                }
            } else {
                unfolded.push(line.to_string());
            }
        }
        unfolded.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The decoded body of the first part with this content type
    /// (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let boundary = self.header("Content-Type").and_then(|ct| {
            let b = ct.split("boundary=").nth(1)?;
            Some(
                b.trim_matches('"')
                    .split(';')
                    .next()?
                    .trim_matches('"')
                    .to_string(),
            )
        })?;
        for part in self.data.split(&format!("--{boundary}")).skip(1) {
            let part = part.trim_start_matches("\r\n");
            let Some((head, body)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            let head_lower = head.to_lowercase();
            if !head_lower.contains(&format!("content-type: {content_type}")) {
                continue;
            }
            let body = body.trim_end_matches("\r\n");
            return Some(
                if head_lower.contains("content-transfer-encoding: quoted-printable") {
                    quoted_printable(body)
                } else if head_lower.contains("content-transfer-encoding: base64") {
                    base64(body)
                } else {
                    body.to_string()
                },
            );
        }
        None
    }
}

fn quoted_printable(text: &str) -> String {
    let bytes = text.replace("=\r\n", "").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(h) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The receiver: listening until dropped.
pub struct SmtpReceiver {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl SmtpReceiver {
    pub fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopping) = (messages.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, answer, &kept);
                });
            }
        });
        Self {
            addr,
            messages,
            stop,
        }
    }

    /// `smtp://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn session(stream: TcpStream, answer: Answer, kept: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream.take(64 << 20));
    out.write_all(b"220 localhost test receiver ESMTP\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_uppercase();
        match verb.as_str() {
            "EHLO" => out.write_all(b"250-localhost\r\n250-8BITMIME\r\n250 SIZE 4194304\r\n")?,
            "HELO" => out.write_all(b"250 localhost\r\n")?,
            "MAIL" => {
                from = address(&command);
                to.clear();
                out.write_all(b"250 2.1.0 OK\r\n")?;
            }
            "RCPT" => {
                to.push(address(&command));
                out.write_all(b"250 2.1.5 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                let mut too_large = false;
                loop {
                    line.clear();
                    if input.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 §4.5.2).
                    let text = line.strip_prefix('.').unwrap_or(&line);
                    if data.len() + text.len() > MAX_MESSAGE {
                        too_large = true;
                    } else {
                        data.push_str(text);
                    }
                }
                if too_large {
                    out.write_all(b"552 5.3.4 message too large\r\n")?;
                } else if answer == Answer::RejectData {
                    out.write_all(b"554 5.7.1 message refused by the test receiver\r\n")?;
                } else {
                    kept.lock().unwrap().push(Received {
                        mail_from: from.clone(),
                        rcpt_to: to.clone(),
                        data: data.trim_end_matches("\r\n").to_string(),
                    });
                    out.write_all(b"250 2.0.0 queued\r\n")?;
                }
            }
            "RSET" => {
                from.clear();
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "NOOP" => out.write_all(b"250 OK\r\n")?,
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 5.5.2 command not implemented\r\n")?,
        }
    }
}

/// The address inside `<…>` of `MAIL FROM:<a>` or `RCPT TO:<b>`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_string())
        .unwrap_or_default()
}
