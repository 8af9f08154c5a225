//! One line of text in a fixed buffer, written to stderr with one write(2):
//! what the abort path and the overflow report print with. It allocates
//! nothing and takes no lock, so a signal handler may use it, and a line
//! is never interleaved with another thread's (one write of at most 512
//! bytes to a pipe is atomic). Longer text is cut.

use std::fmt;

pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line::new()
    }
}

impl Line {
    pub const fn new() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    pub fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    pub fn push_decimal(&mut self, n: usize) {
        self.push_digits(n, 10);
    }

    pub fn push_hex(&mut self, n: usize) {
        self.push_digits(n, 16);
    }

    fn push_digits(&mut self, mut n: usize, base: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[n % base];
            n /= base;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// Writes the line to stderr (a failure is ignored: nothing useful can
    /// be done about it on the way to an abort).
    pub fn write_to_stderr(&self) {
        // SAFETY: our own initialised buffer, `len` bytes of it.
        unsafe { libc::write(libc::STDERR_FILENO, self.buf.as_ptr().cast(), self.len) };
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}
