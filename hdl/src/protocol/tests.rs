use super::*;
use proptest::prelude::*;

#[test]
fn crc_is_the_catalogued_one() {
    // The CRC catalogue's check value for CRC-16/IBM-3740.
    assert_eq!(crc16(b"123456789"), 0x29B1);
}

fn frames() -> impl Strategy<Value = Frame> {
    (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(s, c, p)| Frame::new(s, c, p))
}

proptest! {
    #[test]
    fn frames_round_trip_through_noise(
        frames in proptest::collection::vec(frames(), 1..6),
        noise in proptest::collection::vec(any::<u8>(), 0..20),
        chunk in 1usize..64,
    ) {
        // Noise without a SYNC byte before the frames is skipped.
        let noise: Vec<u8> = noise.into_iter().filter(|&b| b != SYNC).collect();
        let mut wire = noise.clone();
        for f in &frames {
            wire.extend(f.encode().unwrap());
        }
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame() {
                got.push(frame.unwrap());
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert_eq!(decoder.skipped, noise.len() as u64);
    }

    /// Every single-bit error in a frame is detected: the corrupted frame is never
    /// delivered, nor anything but the next frame. (A corrupted length, or a SYNC byte in
    /// the payload, can leave the decoder waiting for a frame that never completes; the
    /// host's timeout and retry recover from that.)
    #[test]
    fn every_single_bit_error_is_detected(frame in frames(), next in frames(), bit in any::<usize>()) {
        let mut wire = frame.encode().unwrap();
        let bit = bit % (wire.len() * 8);
        wire[bit / 8] ^= 1 << (bit % 8);
        wire.extend(next.encode().unwrap());
        let mut decoder = FrameDecoder::new();
        decoder.push(&wire);
        let mut got = Vec::new();
        while let Some(result) = decoder.next_frame() {
            got.push(result);
        }
        // Noticed: an error, bytes skipped as noise (a corrupted SYNC), or a frame pending.
        prop_assert!(
            got.iter().any(|r| r.is_err()) || decoder.skipped > 0 || decoder.pending() > 0,
            "the error went unnoticed"
        );
        for f in got.iter().flatten() {
            prop_assert_eq!(f, &next);
        }
    }

    #[test]
    fn pipe_words_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..600), pad in 0usize..4) {
        let mut words = pipe::to_words(&bytes);
        prop_assert_eq!(words.len(), 2 * bytes.len());
        // Padding words anywhere are skipped.
        let at = words.len() / 4 * 2;
        words.splice(at..at, std::iter::repeat_n(0u8, 2 * pad));
        prop_assert_eq!(pipe::from_words(&words), bytes);
    }

    /// Any byte stream: no panic, and the decoder ends waiting for bytes.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        let mut n = 0;
        while decoder.next_frame().is_some() {
            n += 1;
            prop_assert!(n <= bytes.len());
        }
    }

    #[test]
    fn images_round_trip_back_to_back(
        images in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => any::<u8>()], 1..900),
            1..4,
        ),
    ) {
        let mut wire = Vec::new();
        for image in &images {
            wire.extend(encode_image(image));
        }
        let mut at = 0;
        for image in &images {
            let (pixels, used) = decode_image(&wire[at..], image.len()).unwrap();
            prop_assert_eq!(&pixels, image);
            at += used;
        }
        prop_assert_eq!(at, wire.len());
    }

    #[test]
    fn bad_image_codes_are_errors(bytes in proptest::collection::vec(any::<u8>(), 0..50), count in 1usize..300) {
        if let Ok((pixels, used)) = decode_image(&bytes, count) {
            prop_assert_eq!(pixels.len(), count);
            prop_assert!(used <= bytes.len());
        }
    }
}

#[test]
fn mnist_images_take_under_0_28_of_their_raw_size() {
    // About 0.25 (194 bytes an image): 141 nonzero pixels in about 27 groups.
    let test = fs_testkit::shipped::mnist().1;
    let (mut raw, mut coded) = (0, 0);
    for i in 0..1000 {
        raw += test.image(i).len();
        coded += encode_image(test.image(i)).len();
    }
    let ratio = coded as f64 / raw as f64;
    assert!(ratio <= 0.28, "sparse code is {ratio:.3} of the raw size");
}

#[test]
fn groups_that_pass_the_image_or_end_early_are_errors() {
    // 4 pixels: a group of 2 zeros and 3 literals is one too many.
    let err = decode_image(&[2, 3, 1, 2, 3], 4).unwrap_err().to_string();
    assert!(err.contains("group of 5 pixels"), "{err}");
    let err = decode_image(&[1, 3, 1, 2], 4).unwrap_err().to_string();
    assert!(err.contains("inside a group of 3"), "{err}");
    let err = decode_image(&[1, 1, 9], 4).unwrap_err().to_string();
    assert!(err.contains("after 2 of 4"), "{err}");
    // Empty groups are allowed (and never sent).
    assert_eq!(
        decode_image(&[0, 0, 1, 2, 5, 6, 1, 0], 4).unwrap(),
        (vec![0, 5, 6, 0], 8)
    );
}

#[test]
fn long_runs_take_several_groups() {
    let mut image = vec![0u8; 300];
    image.extend(std::iter::repeat_n(7u8, 300));
    image.extend([0, 0]);
    let code = encode_image(&image);
    assert_eq!(&code[..2], &[255, 0]);
    assert_eq!(&code[2..4], &[45, 255]);
    assert_eq!(&code[259..261], &[0, 45]);
    assert_eq!(&code[306..], &[2, 0]);
    assert_eq!(
        decode_image(&code, image.len()).unwrap(),
        (image, code.len())
    );
}

#[test]
fn payloads_cut_anywhere_and_join_back() {
    let codes = vec![vec![1u8, 2, 3, 4, 5], vec![6, 7, 8]];
    let payloads = classify_payloads(&codes, 3);
    assert_eq!(payloads, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8]]);
}
