//! The Variable Byte Integer of MQTT (3.1.1 section 2.2.3, 5.0 section 1.5.5):
//! 7 bits per byte, least significant group first, high bit set on every byte
//! but the last, at most 4 bytes.

/// Largest value a Variable Byte Integer can carry (4 bytes).
pub(crate) const MAX: u32 = 268_435_455;

/// Why a Variable Byte Integer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The buffer ends before the last byte of the integer.
    Incomplete,
    /// Longer than 4 bytes, or not in its shortest form.
    Malformed,
}

/// Number of bytes the encoding of `value` takes (1 to 4; values above
/// [`MAX`] are rejected before they get here).
#[inline]
pub(crate) fn len(value: usize) -> usize {
    if value < 0x80 {
        1
    } else if value < 0x4000 {
        2
    } else if value < 0x20_0000 {
        3
    } else {
        4
    }
}

/// Appends the encoding of `value`, which must be at most [`MAX`].
#[inline]
pub(crate) fn write(out: &mut Vec<u8>, value: u32) {
    debug_assert!(value <= MAX);
    let mut value = value;
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Writes `value` as a Variable Byte Integer at `at` (uninitialised
/// capacity) and returns the cursor after it.
///
/// # Safety
/// `at` must be valid for writing [`len`]`(value)` bytes.
#[inline(always)]
pub(crate) unsafe fn put_raw(mut at: *mut u8, value: u32) -> *mut u8 {
    debug_assert!(value <= MAX);
    let mut value = value;
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            // SAFETY: the caller's room covers every byte of the encoding.
            unsafe {
                at.write(byte);
                return at.add(1);
            }
        }
        // SAFETY: as above.
        unsafe {
            at.write(byte | 0x80);
            at = at.add(1);
        }
    }
}

/// Reads a Variable Byte Integer from the front of `buf`: the value and the
/// number of bytes it took.
///
/// A fourth byte with the continuation bit set is [`VarintError::Malformed`]
/// at once, without waiting for a fifth byte. Encodings that are longer than
/// needed (a trailing `0x00` group, e.g. `80 00` for 0) are malformed too: the
/// 5.0 specification requires the minimum number of bytes [MQTT-1.5.5-1].
#[inline]
pub(crate) fn read(buf: &[u8]) -> Result<(u32, usize), VarintError> {
    let mut value: u32 = 0;
    for (index, &byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            if index > 0 && byte == 0 {
                return Err(VarintError::Malformed);
            }
            return Ok((value, index + 1));
        }
    }
    if buf.len() >= 4 {
        Err(VarintError::Malformed)
    } else {
        Err(VarintError::Incomplete)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: u32) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, value);
        out
    }

    #[test]
    fn boundary_values_have_the_spec_encodings() {
        // MQTT 5.0 section 1.5.5 / 3.1.1 table 2.4.
        let cases: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, bytes) in cases {
            assert_eq!(encode(value), bytes, "encoding {value}");
            assert_eq!(len(value as usize), bytes.len(), "length of {value}");
            assert_eq!(read(bytes), Ok((value, bytes.len())), "decoding {value}");
        }
    }

    #[test]
    fn five_bytes_are_malformed_after_the_fourth() {
        assert_eq!(read(&[0xFF, 0xFF, 0xFF, 0xFF]), Err(VarintError::Malformed));
        assert_eq!(
            read(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(VarintError::Malformed)
        );
    }

    #[test]
    fn short_input_is_incomplete() {
        assert_eq!(read(&[]), Err(VarintError::Incomplete));
        assert_eq!(read(&[0x80]), Err(VarintError::Incomplete));
        assert_eq!(read(&[0xFF, 0xFF, 0xFF]), Err(VarintError::Incomplete));
    }

    #[test]
    fn non_minimal_encodings_are_malformed() {
        assert_eq!(read(&[0x80, 0x00]), Err(VarintError::Malformed));
        assert_eq!(read(&[0xFF, 0x80, 0x00]), Err(VarintError::Malformed));
    }

    #[test]
    fn stops_at_the_last_byte() {
        assert_eq!(read(&[0x05, 0xFF, 0xFF]), Ok((5, 1)));
    }
}
