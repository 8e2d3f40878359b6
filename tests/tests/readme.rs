//! The README's Rust quick start: its lines, as the README shows them, compile here and run against an echo
//! server on the address they name (skipped, not failed, when that port is taken on the machine).

use std::io::{Read, Write};
use std::net::TcpListener;

/// The README's snippet, line for line (`quick_start_is_the_readmes` checks the README holds exactly these).
fn quick_start() -> Result<(), Box<dyn std::error::Error>> {
    // README BEGIN
    use demikernel::{QValue, Sga, SocketDomain, SocketType};

    let mut libos = demikernel::new_libos("catnap")?; // or demikernel::from_env()
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
    let qt = libos.connect(qd, "127.0.0.1:9000".parse().unwrap())?;
    libos.wait(qt, None)?.value?;
    let qt = libos.push(qd, &Sga::from_slice(b"hello")?)?;
    libos.wait(qt, None)?.value?;
    let qt = libos.pop(qd, None)?;
    if let QValue::Popped { sga, .. } = libos.wait(qt, None)?.value? {
        println!("{:?}", sga.to_vec());
    }
    // README END
    Ok(())
}

/// The lines between the markers above, without the indentation of the function body.
fn snippet() -> String {
    let source = include_str!("readme.rs");
    let body = source.split("// README BEGIN\n").nth(1).and_then(|rest| rest.split("    // README END").next());
    let body = body.expect("the markers");
    body.lines().map(|line| line.strip_prefix("    ").unwrap_or(line)).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn quick_start_is_the_readmes() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Quick start (Rust)\n```rust\n").nth(1).expect("the README's Rust quick start");
    let block = section.split("```").next().expect("the block's end");
    assert_eq!(block, snippet(), "the README's Rust quick start differs from this test's copy");
}

#[test]
fn quick_start_runs_against_an_echo_server() {
    let Ok(listener) = TcpListener::bind("127.0.0.1:9000") else {
        eprintln!("skipped: 127.0.0.1:9000 is taken on this machine");
        return;
    };
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).expect("read");
        stream.write_all(&hello).expect("write");
        hello
    });
    quick_start().expect("the quick start");
    assert_eq!(&server.join().expect("the echo server"), b"hello");
}
