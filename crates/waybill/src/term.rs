//! Writing to the terminal without ever panicking: `waybill status | head -1` closes standard output
//! early, and `println!` would panic on it. A closed standard output ends the program quietly with the
//! shell's code for it (141, "killed by SIGPIPE"); a closed standard error is ignored.

use std::io::Write;

/// Exit code of a program whose output pipe was closed (128 + SIGPIPE), as shells report it.
pub const CLOSED_PIPE: i32 = 141;

/// Writes to standard output; a closed pipe ends the program (see the module documentation).
pub fn write_out(text: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(text).and_then(|()| stdout.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(CLOSED_PIPE);
    }
}

/// Writes to standard error; errors are ignored (there is nowhere left to report them).
pub fn write_err(text: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(text).and_then(|()| stderr.flush());
}

/// `println!` that never panics.
macro_rules! outln {
    () => { $crate::term::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::term::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::term::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::term::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::term::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};
