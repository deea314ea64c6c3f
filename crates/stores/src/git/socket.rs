//! libgit2's plain TCP stream, replaced by one that sets `TCP_NODELAY`.
//!
//! libgit2 writes an HTTP request body in many small writes: each chunk of a chunked push is its size
//! line, its data and its line end, three `send`s. Without `TCP_NODELAY`, Nagle's algorithm holds the
//! last small segment until the server acknowledges the previous one, and a server delays that
//! acknowledgement (40 ms on Linux), so every push waited about 40 ms for nothing: a one-file push to
//! `git http-backend` on loopback took 72 ms, 27 ms with the option (the `git` CLI, through curl, sets
//! it too). Every connection libgit2 opens goes through this stream: plain HTTP, HTTPS (the TLS stream
//! wraps it), `git://` and SSH (libssh2 is handed the socket).
//!
//! The stream keeps libgit2's own behaviour otherwise: the connect and read timeouts of
//! [`crate::init`], a non-blocking socket polled for each read and write once a timeout is set, TCP
//! keepalive, and the error messages the remote's error classification reads ("failed to connect",
//! "timed out").

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// libgit2's `git_stream` (include/git2/sys/stream.h, version 1).
#[repr(C)]
struct RawStream {
    version: c_int,
    /// The `encrypted:1, proxy_support:1` bit fields: both 0 for a plain socket.
    flags: c_uint,
    timeout: c_int,
    connect_timeout: c_int,
    connect: Option<unsafe extern "C" fn(*mut RawStream) -> c_int>,
    certificate: Option<unsafe extern "C" fn(*mut *mut c_void, *mut RawStream) -> c_int>,
    set_proxy: Option<unsafe extern "C" fn(*mut RawStream, *const c_void) -> c_int>,
    read: Option<unsafe extern "C" fn(*mut RawStream, *mut c_void, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut RawStream, *const c_char, usize, c_int) -> isize>,
    close: Option<unsafe extern "C" fn(*mut RawStream) -> c_int>,
    free: Option<unsafe extern "C" fn(*mut RawStream)>,
}

/// libgit2's `git_stream_registration`.
#[repr(C)]
struct Registration {
    version: c_int,
    init: Option<unsafe extern "C" fn(*mut *mut RawStream, *const c_char, *const c_char) -> c_int>,
    wrap: Option<unsafe extern "C" fn(*mut *mut RawStream, *mut RawStream, *const c_char) -> c_int>,
}

/// The stream: its first fields are laid out as libgit2's internal `git_socket_stream`, because the SSH
/// transport reads the socket from there (`GIT_CONTAINER_OF(io, git_socket_stream, parent)->s`).
#[repr(C)]
struct SocketStream {
    parent: RawStream,
    host_ptr: *mut c_char,
    port_ptr: *mut c_char,
    socket: c_int,
    host: CString,
    port: CString,
}

const GIT_STREAM_VERSION: c_int = 1;
const GIT_STREAM_STANDARD: c_int = 1;
const GIT_ERROR: c_int = -1;
const GIT_TIMEOUT: c_int = -37;
const GIT_ERROR_OS: c_int = 2;
const GIT_ERROR_NET: c_int = 12;

unsafe extern "C" {
    fn git_stream_register(kind: c_int, registration: *mut Registration) -> c_int;
    fn git_error_set_str(class: c_int, message: *const c_char) -> c_int;
}

/// Connections opened through this stream since the process started (tests read it).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// How many connections this stream has opened: shows that libgit2 uses it.
pub fn connections() -> u64 {
    CONNECTIONS.load(Ordering::Relaxed)
}

/// Makes every libgit2 connection from now on use this stream, with the given timeouts in
/// milliseconds (0: none). Called once, from [`crate::init`].
pub(crate) fn register(connect_timeout_ms: i32, timeout_ms: i32) -> Result<(), String> {
    TIMEOUTS.store(pack(connect_timeout_ms, timeout_ms), Ordering::Relaxed);
    let mut registration = Registration { version: GIT_STREAM_VERSION, init: Some(init), wrap: None };
    // SAFETY: libgit2 copies the registration; `init` has the signature libgit2 calls it with.
    let rc = unsafe { git_stream_register(GIT_STREAM_STANDARD, &mut registration) };
    if rc == 0 { Ok(()) } else { Err(format!("failed to register the socket stream: libgit2 returned {rc}")) }
}

static TIMEOUTS: AtomicU64 = AtomicU64::new(0);

fn pack(connect: i32, read: i32) -> u64 {
    (u64::from(connect.max(0) as u32) << 32) | u64::from(read.max(0) as u32)
}

fn timeouts() -> (c_int, c_int) {
    let v = TIMEOUTS.load(Ordering::Relaxed);
    // Both halves were stored from non-negative `i32`s, so they fit.
    ((v >> 32) as c_int, (v & 0xffff_ffff) as c_int)
}

fn set_error(class: c_int, message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: libgit2 copies the string into its thread-local error.
    unsafe { git_error_set_str(class, text.as_ptr()) };
}

/// `init` of the registration: a new, unconnected stream to `host:port`.
unsafe extern "C" fn init(out: *mut *mut RawStream, host: *const c_char, port: *const c_char) -> c_int {
    if out.is_null() || host.is_null() {
        set_error(GIT_ERROR_NET, "failed to open a socket stream: no host");
        return GIT_ERROR;
    }
    // SAFETY: libgit2 passes NUL-terminated strings that live for this call; they are copied.
    let host = unsafe { CStr::from_ptr(host) }.to_owned();
    let port = if port.is_null() { CString::default() } else { unsafe { CStr::from_ptr(port) }.to_owned() };
    let (connect_timeout, timeout) = timeouts();
    let mut stream = Box::new(SocketStream {
        parent: RawStream {
            version: GIT_STREAM_VERSION,
            flags: 0,
            timeout,
            connect_timeout,
            connect: Some(connect),
            certificate: None,
            set_proxy: None,
            read: Some(read),
            write: Some(write),
            close: Some(close),
            free: Some(free),
        },
        host_ptr: std::ptr::null_mut(),
        port_ptr: std::ptr::null_mut(),
        socket: -1,
        host,
        port,
    });
    stream.host_ptr = stream.host.as_ptr().cast_mut();
    stream.port_ptr = stream.port.as_ptr().cast_mut();
    // SAFETY: `out` was checked; the box is freed by `free`, which libgit2 calls exactly once.
    unsafe { *out = Box::into_raw(stream).cast::<RawStream>() };
    0
}

/// The stream behind libgit2's pointer. `parent` is the first field of a `repr(C)` struct, so the
/// pointer libgit2 holds is the stream's.
unsafe fn this<'a>(stream: *mut RawStream) -> &'a mut SocketStream {
    // SAFETY: every stream handed to these callbacks was made by `init`.
    unsafe { &mut *stream.cast::<SocketStream>() }
}

fn millis(ms: c_int) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms.unsigned_abs().into()))
}

unsafe extern "C" fn connect(stream: *mut RawStream) -> c_int {
    // SAFETY: see `this`.
    let st = unsafe { this(stream) };
    let host = st.host.to_string_lossy().into_owned();
    let Ok(port) = st.port.to_string_lossy().parse::<u16>() else {
        set_error(GIT_ERROR_NET, &format!("failed to resolve address for {host}: invalid port"));
        return GIT_ERROR;
    };
    let addrs = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => {
            set_error(GIT_ERROR_NET, &format!("failed to resolve address for {host}: {e}"));
            return GIT_ERROR;
        }
    };
    let mut last = None;
    for addr in &addrs {
        let attempt = match millis(st.parent.connect_timeout) {
            Some(limit) => TcpStream::connect_timeout(addr, limit),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(tcp) => {
                // Best effort, as in libgit2: a socket without them still works.
                let _ = tcp.set_nodelay(true);
                keepalive(&tcp);
                if st.parent.timeout > 0 && tcp.set_nonblocking(true).is_err() {
                    set_error(
                        GIT_ERROR_OS,
                        &format!("failed to connect to {host}: could not make the socket non-blocking"),
                    );
                    return GIT_ERROR;
                }
                st.socket = tcp.into_raw_fd();
                CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                return 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                set_error(GIT_ERROR_NET, &format!("failed to connect to {host}: Operation timed out"));
                return GIT_ERROR;
            }
            Err(e) => last = Some(e),
        }
    }
    let reason = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
    set_error(GIT_ERROR_OS, &format!("failed to connect to {host}: {reason}"));
    GIT_ERROR
}

/// TCP keepalive as libgit2 sets it: probes after 60 s idle, every 10 s, 3 of them.
fn keepalive(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let fd = tcp.as_raw_fd();
    let set = |level: c_int, name: c_int, value: c_int| {
        // SAFETY: a valid socket and a pointer to an int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&raw const value).cast::<c_void>(),
                std::mem::size_of::<c_int>() as libc::socklen_t,
            )
        }
    };
    if set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1) == 0 {
        set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 60);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 10);
        set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
    }
}

/// Waits until the socket is ready for `events`; `false` when the timeout passed first.
fn ready(fd: c_int, events: libc::c_short, timeout: c_int) -> Result<bool, std::io::Error> {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Runs one `send` or `recv`, waiting for the socket (up to the stream's timeout) when it would block.
fn transfer(st: &SocketStream, events: libc::c_short, what: &str, mut op: impl FnMut() -> isize) -> isize {
    loop {
        let n = op();
        if n >= 0 {
            return n;
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock if st.parent.timeout > 0 => {
                match ready(st.socket, events, st.parent.timeout) {
                    Ok(true) => continue,
                    Ok(false) => {
                        set_error(GIT_ERROR_NET, &format!("could not {what} socket: timed out"));
                        return GIT_TIMEOUT as isize;
                    }
                    Err(e) => {
                        set_error(GIT_ERROR_NET, &format!("error {what} socket: {e}"));
                        return GIT_ERROR as isize;
                    }
                }
            }
            _ => {
                set_error(GIT_ERROR_NET, &format!("error {what} socket: {err}"));
                return GIT_ERROR as isize;
            }
        }
    }
}

unsafe extern "C" fn read(stream: *mut RawStream, data: *mut c_void, len: usize) -> isize {
    // SAFETY: see `this`.
    let st = unsafe { this(stream) };
    // SAFETY: libgit2 hands a buffer of `len` writable bytes.
    transfer(st, libc::POLLIN, "read from", || unsafe { libc::recv(st.socket, data, len, 0) })
}

unsafe extern "C" fn write(stream: *mut RawStream, data: *const c_char, len: usize, _flags: c_int) -> isize {
    // SAFETY: see `this`.
    let st = unsafe { this(stream) };
    // SAFETY: libgit2 hands `len` readable bytes; MSG_NOSIGNAL keeps a closed peer from raising SIGPIPE.
    transfer(st, libc::POLLOUT, "write to", || unsafe {
        libc::send(st.socket, data.cast::<c_void>(), len, libc::MSG_NOSIGNAL)
    })
}

unsafe extern "C" fn close(stream: *mut RawStream) -> c_int {
    // SAFETY: see `this`.
    let st = unsafe { this(stream) };
    if st.socket < 0 {
        return 0;
    }
    // SAFETY: the socket is this stream's own, closed once (it is set to -1 right after).
    let rc = unsafe { libc::close(st.socket) };
    st.socket = -1;
    if rc == 0 { 0 } else { GIT_ERROR }
}

unsafe extern "C" fn free(stream: *mut RawStream) {
    if stream.is_null() {
        return;
    }
    // SAFETY: made by `Box::into_raw` in `init`; libgit2 frees a stream once. A stream freed while
    // still open closes its socket, as a dropped one should.
    unsafe {
        close(stream);
        drop(Box::from_raw(stream.cast::<SocketStream>()));
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A stream made and connected the way libgit2 does it, with the given read timeout.
    fn open(port: u16, timeout: c_int) -> (*mut RawStream, c_int) {
        // libgit2 keeps its errors only once it is initialised, as it always is when it calls a stream.
        crate::init();
        let host = CString::new("127.0.0.1").unwrap();
        let port = CString::new(port.to_string()).unwrap();
        let mut raw: *mut RawStream = std::ptr::null_mut();
        unsafe {
            assert_eq!(init(&mut raw, host.as_ptr(), port.as_ptr()), 0);
            (*raw).timeout = timeout;
            (*raw).connect_timeout = 2_000;
            let rc = ((*raw).connect.unwrap())(raw);
            (raw, rc)
        }
    }

    fn last_message(code: c_int) -> String {
        git2::Error::last_error(code).message().to_string()
    }

    fn option(fd: c_int, level: c_int, name: c_int) -> c_int {
        let mut value: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast::<c_void>(), &mut len) };
        assert_eq!(rc, 0, "getsockopt failed");
        value
    }

    #[test]
    fn a_connected_stream_has_nodelay_and_keepalive_and_carries_bytes_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (raw, rc) = open(port, 2_000);
        assert_eq!(rc, 0);
        let (mut peer, _) = listener.accept().unwrap();
        unsafe {
            let fd = this(raw).socket;
            assert_eq!(option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
            assert_eq!(option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
            assert_eq!(option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 60);
            let sent = ((*raw).write.unwrap())(raw, c"ping".as_ptr(), 4, 0);
            assert_eq!(sent, 4);
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            peer.write_all(b"pong").unwrap();
            let mut buf = [0u8; 16];
            let n = ((*raw).read.unwrap())(raw, buf.as_mut_ptr().cast::<c_void>(), buf.len());
            assert_eq!(&buf[..usize::try_from(n).unwrap()], b"pong");
            drop(peer);
            let n = ((*raw).read.unwrap())(raw, buf.as_mut_ptr().cast::<c_void>(), buf.len());
            assert_eq!(n, 0, "a closed peer reads as the end of the stream");
            assert_eq!(((*raw).close.unwrap())(raw), 0);
            assert_eq!(this(raw).socket, -1);
            ((*raw).free.unwrap())(raw);
        }
    }

    #[test]
    fn a_read_that_gets_no_answer_times_out_with_libgit2s_timeout_code() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (raw, rc) = open(port, 200);
        assert_eq!(rc, 0);
        let (_peer, _) = listener.accept().unwrap();
        unsafe {
            let mut buf = [0u8; 16];
            let n = ((*raw).read.unwrap())(raw, buf.as_mut_ptr().cast::<c_void>(), buf.len());
            assert_eq!(n, GIT_TIMEOUT as isize);
            assert_eq!(last_message(GIT_TIMEOUT), "could not read from socket: timed out");
            ((*raw).free.unwrap())(raw);
        }
    }

    #[test]
    fn a_refused_connection_says_failed_to_connect_and_why() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (raw, rc) = open(port, 0);
        assert_eq!(rc, GIT_ERROR);
        let message = last_message(rc);
        assert!(message.starts_with("failed to connect to 127.0.0.1: "), "{message}");
        assert!(message.to_ascii_lowercase().contains("refused"), "{message}");
        unsafe { ((*raw).free.unwrap())(raw) };
    }

    #[test]
    fn an_invalid_port_is_an_error_not_a_connection() {
        let host = CString::new("127.0.0.1").unwrap();
        let port = CString::new("git").unwrap();
        crate::init();
        let mut raw: *mut RawStream = std::ptr::null_mut();
        unsafe {
            assert_eq!(init(&mut raw, host.as_ptr(), port.as_ptr()), 0);
            assert_eq!(((*raw).connect.unwrap())(raw), GIT_ERROR);
            assert_eq!(last_message(GIT_ERROR), "failed to resolve address for 127.0.0.1: invalid port");
            ((*raw).free.unwrap())(raw);
        }
    }

    #[test]
    fn libgit2_opens_its_connections_through_this_stream_once_the_store_is_initialised() {
        crate::init();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // Accept libgit2's connection and hang up: the fetch fails, the connection was made.
            let (peer, _) = listener.accept().unwrap();
            drop(peer);
        });
        let before = connections();
        let mut remote = git2::Remote::create_detached(format!("git://127.0.0.1:{port}/r.git")).unwrap();
        let result = remote.connect(git2::Direction::Fetch);
        server.join().unwrap();
        assert!(result.is_err(), "the server hung up, the connect must fail");
        assert!(connections() > before, "libgit2 did not use Waybill's socket stream");
    }
}
