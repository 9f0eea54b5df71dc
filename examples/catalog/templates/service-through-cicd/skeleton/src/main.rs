//! ${{ values.name }}: ${{ values.description or 'a service created from the golden path' }}.
//!
//! A dependency-free HTTP service: `GET /healthz` answers for the liveness
//! and readiness probes, `GET /` says which service and version answered.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// Status, content type and body for a request path.
fn respond(path: &str) -> (u16, &'static str, String) {
    match path {
        "/healthz" | "/readyz" => (200, "application/json", "{\"status\":\"ok\"}".to_string()),
        "/" => (
            200,
            "application/json",
            format!(
                "{{\"service\":\"{}\",\"version\":\"{}\"}}",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION")
            ),
        ),
        _ => (404, "application/json", "{\"error\":\"not found\"}".to_string()),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    }
}

fn handle(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or("/");
    let (status, content_type, body) = respond(path);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
}

fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_string());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}"))?;
    eprintln!("listening on 0.0.0.0:{port}");
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                if let Err(e) = handle(s) {
                    eprintln!("request failed: {e}");
                }
            }
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_answers_ok() {
        let (status, _, body) = respond("/healthz");
        assert_eq!(status, 200);
        assert_eq!(body, "{\"status\":\"ok\"}");
    }

    #[test]
    fn root_names_the_service() {
        let (status, _, body) = respond("/");
        assert_eq!(status, 200);
        assert!(body.contains(env!("CARGO_PKG_NAME")));
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(respond("/nope").0, 404);
    }

    #[test]
    fn serves_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            handle(s).unwrap();
        });
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut client, &mut response).unwrap();
        server.join().unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    }
}
