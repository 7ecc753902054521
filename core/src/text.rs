//! Error messages put together without `core::fmt`'s `write!` machinery.
//!
//! The messages the client builds for its errors (`ClientError::InvalidArgument`
//! rules naming a topic, a URL or a number) were the only users of
//! `core::fmt::write`, integer `Display` and string padding in the browser
//! package. Joining `&str` parts gives the same text with a fraction of the
//! code.

/// `n` in decimal, as `{}` prints it.
pub fn dec(n: u64) -> String {
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
    // ASCII digits: `from_utf8` cannot fail (collecting `char`s linked
    // `char::encode_utf8`).
    std::str::from_utf8(&digits[at..])
        .unwrap_or_default()
        .to_owned()
}

/// The parts joined (`<[&str]>::concat` without its unrolled copy loops).
pub fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// `n` as two upper-case hex digits (a reason code: `87`).
pub fn hex(n: u8) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digits = [HEX[usize::from(n >> 4)], HEX[usize::from(n & 15)]];
    std::str::from_utf8(&digits).unwrap_or_default().to_owned()
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

    #[test]
    fn hex_matches_display() {
        for n in [0u8, 0x04, 0x8E, 0xFF] {
            assert_eq!(hex(n), format!("{n:02X}"));
        }
    }
}
