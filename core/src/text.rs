//! Error messages put together without `core::fmt`'s `write!` machinery.
//!
//! The messages the client builds for its errors (`ClientError::InvalidArgument`
//! rules naming a topic, a URL or a number) were the only users of
//! `core::fmt::write`, integer `Display` and string padding in the browser
//! package. Joining `&str` parts gives the same text with a fraction of the
//! code.

use std::fmt;

/// `n` in decimal, as `{}` prints it.
pub(crate) fn dec(n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].iter().map(|&d| char::from(d)).collect()
}

/// The parts joined (`<[&str]>::concat` without its unrolled copy loops).
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Writes the parts one after the other, for `Display` impls.
pub(crate) fn write_parts(f: &mut fmt::Formatter<'_>, parts: &[&str]) -> fmt::Result {
    for part in parts {
        f.write_str(part)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dec_matches_display() {
        for n in [0, 1, 9, 10, 65_535, 1_000_000, u64::MAX] {
            assert_eq!(dec(n), n.to_string());
        }
    }
}
