//! The UniFFI code generator, pinned to the same UniFFI version as the
//! library: `cargo run -p midge-uniffi --bin uniffi-bindgen -- generate
//! --library target/debug/libmidge_uniffi.so --language kotlin --out-dir out`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
