//! The gateway frame codec, JSON and MessagePack: a length-prefixed stream of any bytes
//! decodes to frames or an error, never a panic or an allocation past the frame limit;
//! every frame decoded re-encodes and decodes to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use runtime_protocol::{Encoding, FrameCodec};
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    // The first byte picks how the stream is read: sniffed, or one encoding fixed.
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let mut codec = match mode % 3 {
        0 => FrameCodec::sniffing(),
        1 => FrameCodec::new(Encoding::Json),
        _ => FrameCodec::new(Encoding::MessagePack),
    }
    .with_max_frame_len(64 * 1024);
    let mut src = BytesMut::from(stream);
    while let Ok(Some(frame)) = codec.decode(&mut src) {
        let encoding = codec.encoding().expect("an encoding once a frame decoded");
        let mut again = FrameCodec::new(encoding).with_max_frame_len(1 << 20);
        let mut out = BytesMut::new();
        if again.encode(&frame, &mut out).is_ok() {
            let back = again.decode(&mut out).expect("re-encoded frame decodes");
            assert_eq!(back.as_ref(), Some(&frame), "a frame survives a round trip");
        }
    }
    // The payload decoders alone, on the raw bytes.
    let _ = Encoding::Json.decode(stream);
    let _ = Encoding::MessagePack.decode(stream);
});
