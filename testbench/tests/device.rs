//! The device (command unit, frame receiver and sender, image decoder, accelerator) in RustHDL
//! simulation, spoken to through the wire protocol: every response is checked against
//! `fs_hdl::protocol` and every result against the golden model; bad frames, retries, busy
//! requests, resets and run-time model loads included. Its Verilog is checked against it.

use fs_hdl::core::accelerator::{Counter, HwConfig};
use fs_hdl::link::device::Device;
use fs_hdl::protocol::{
    Command, DEVICE_MAX_PAYLOAD, DeviceCounter, ErrorCode, Frame, FrameDecoder, Identity,
    LoadTarget, RESPONSE, ResultResponse, Status, WAIT_FOR_RESULT, classify_payloads, encode_image,
    identity, load_payload, load_requests,
};
use fs_hdl::sim::compare::result_difference;
use fs_hdl::sim::rusthdl::device::DeviceDriver;
use fs_model::infer::FixedEngine;
use fs_model::network::Model;
use fs_testkit::random::retrained;
use fs_testkit::shipped::digits;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Session {
    sim: DeviceDriver,
    sequence: u8,
    classes: usize,
    layers: usize,
}

impl Session {
    fn new(model: &Model, config: &HwConfig) -> Self {
        Session {
            sim: DeviceDriver::new(Device::new(model, config, 5000).unwrap()),
            sequence: 0,
            classes: model.layers.last().unwrap().outputs(),
            layers: model.layers.len(),
        }
    }

    /// Sends `bytes` and returns the first frame (or frame error) the device answers with.
    fn exchange_bytes(&mut self, bytes: &[u8]) -> Frame {
        self.try_exchange(bytes, 200_000)
            .expect("the device answered")
            .expect("the response is a good frame")
    }

    /// Sends `bytes`; the first frame (or frame error) that comes back within `cycles`.
    fn try_exchange(
        &mut self,
        bytes: &[u8],
        cycles: u64,
    ) -> Option<Result<Frame, fs_hdl::protocol::FrameError>> {
        self.sim.send(bytes);
        let mut decoder = FrameDecoder::new();
        let mut frame = None;
        self.sim.run_until(cycles, |out| {
            decoder.push(&out[out.len() - 1..]);
            frame = decoder.next_frame();
            frame.is_some()
        });
        frame
    }

    fn request(&mut self, command: Command, payload: Vec<u8>) -> Frame {
        self.sequence = self.sequence.wrapping_add(1);
        let frame = Frame::new(self.sequence, command as u8, payload);
        let response = self.exchange_bytes(&frame.encode().unwrap());
        assert_eq!(
            response.sequence, self.sequence,
            "the response carries the request's"
        );
        response
    }

    /// A request the device must accept: the response's payload.
    fn ok(&mut self, command: Command, payload: Vec<u8>) -> Vec<u8> {
        let response = self.request(command, payload);
        assert_eq!(
            response.command,
            command as u8 | RESPONSE,
            "{command:?} refused: {:?}",
            response.payload
        );
        response.payload
    }

    fn error(&mut self, command: Command, payload: Vec<u8>) -> u8 {
        let response = self.request(command, payload);
        assert_eq!(
            response.command,
            Command::Error as u8,
            "{command:?} was accepted"
        );
        assert_eq!(response.payload.len(), 1);
        response.payload[0]
    }

    fn identify(&mut self) -> Identity {
        Identity::decode(&self.ok(Command::Identify, vec![])).unwrap()
    }

    fn status(&mut self) -> Status {
        let counters = Counter::count(self.layers);
        Status::decode(&self.ok(Command::Status, vec![]), counters).unwrap()
    }

    /// Sends the images, then reads results until every one is back: (index, logits, class).
    fn classify(&mut self, images: &[&[u8]]) -> Vec<(u32, Vec<i64>, u8)> {
        let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
        let mut results = Vec::new();
        for payload in classify_payloads(&codes, DEVICE_MAX_PAYLOAD) {
            loop {
                let response = self.request(Command::Classify, payload.clone());
                if response.command == Command::Classify as u8 | RESPONSE {
                    break;
                }
                assert_eq!(response.payload, vec![ErrorCode::Busy as u8]);
                self.read_result(&mut results);
            }
        }
        while results.len() < images.len() {
            self.read_result(&mut results);
        }
        results
    }

    fn read_result(&mut self, results: &mut Vec<(u32, Vec<i64>, u8)>) {
        let payload = self.ok(Command::ReadResults, vec![]);
        let r = ResultResponse::decode(&payload, self.classes).unwrap();
        if let Some((logits, class)) = r.result {
            results.push((r.index, logits, class));
        }
    }
}

fn assert_golden(model: &Model, images: &[&[u8]], results: &[(u32, Vec<i64>, u8)], first: u32) {
    let engine = FixedEngine::new(model);
    assert_eq!(results.len(), images.len());
    for (n, (image, (index, logits, class))) in images.iter().zip(results).enumerate() {
        assert_eq!(*index, first + n as u32, "result {n}'s index");
        if let Some(m) = result_difference(n, logits, *class as usize, &engine.run(image)) {
            panic!("{m}");
        }
    }
}

#[test]
fn identify_classify_and_status_agree_with_the_golden_model() {
    let (model, test) = digits();
    let config = HwConfig::new(vec![4, 2]);
    let mut s = Session::new(&model, &config);
    assert_eq!(s.identify(), identity(&model, &config).unwrap());
    // Twelve images: several classify payloads, images spanning them, busy answers.
    let images: Vec<&[u8]> = (0..12).map(|i| test.image(i)).collect();
    let results = s.classify(&images);
    assert_golden(&model, &images, &results, 0);
    let status = s.status();
    assert_eq!(status.device(DeviceCounter::ImagesFed), 12);
    assert_eq!(status.device(DeviceCounter::ResultsOut), 12);
    assert_eq!(status.device(DeviceCounter::FrameErrors), 0);
    assert_eq!(status.device(DeviceCounter::CodeErrors), 0);
    assert_eq!(status.accelerator[Counter::ImagesIn.select(2)], 12);
    assert_eq!(status.accelerator[Counter::ImagesOut.select(2)], 12);
    let spikes_in: u64 = images
        .iter()
        .map(|i| FixedEngine::new(&model).run(i).spike_counts()[0])
        .sum();
    assert_eq!(
        status.accelerator[Counter::Spikes(0).select(2)] as u64,
        spikes_in
    );
    // A read that waits for a result gets it in one request.
    let code = encode_image(test.image(12));
    assert!(code.len() <= DEVICE_MAX_PAYLOAD);
    s.ok(Command::Classify, code);
    let r =
        ResultResponse::decode(&s.ok(Command::ReadResults, WAIT_FOR_RESULT.to_vec()), 10).unwrap();
    let (logits, class) = r.result.expect("the read waited for the result");
    assert_golden(&model, &[test.image(12)], &[(r.index, logits, class)], 12);
    // No result left: an empty read carries the count.
    let r = ResultResponse::decode(&s.ok(Command::ReadResults, vec![]), 10).unwrap();
    assert_eq!(
        r,
        ResultResponse {
            index: 13,
            decoder_busy: false,
            result: None
        }
    );
}

#[test]
fn bad_frames_get_error_responses_and_the_device_resynchronises() {
    let (model, _) = digits();
    let config = HwConfig::new(vec![4, 2]);
    let mut s = Session::new(&model, &config);
    let expected = identity(&model, &config).unwrap();
    // A corrupted CRC.
    let mut bad = Frame::new(9, Command::Identify as u8, vec![])
        .encode()
        .unwrap();
    bad[5] ^= 0x01;
    let r = s.exchange_bytes(&bad);
    assert_eq!(
        (r.command, r.payload),
        (Command::Error as u8, vec![ErrorCode::Crc as u8])
    );
    assert_eq!(s.identify(), expected);
    // A length beyond the device's buffer: refused as soon as the length is in.
    let long = Frame::new(3, Command::Classify as u8, vec![0; DEVICE_MAX_PAYLOAD + 2]);
    let r = s.exchange_bytes(&long.encode().unwrap());
    assert_eq!(r.payload, vec![ErrorCode::Length as u8]);
    s.sim.run_until(20_000, |_| false); // the rest of that frame's bytes drain
    assert_eq!(s.identify(), expected);
    assert_eq!(
        s.error(Command::Error, vec![]),
        ErrorCode::UnknownCommand as u8
    );
    // Noise, then the host's retries get through.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..5 {
        let noise: Vec<u8> = (0..rng.gen_range(1..300)).map(|_| rng.r#gen()).collect();
        s.sim.send(&noise);
        s.sim.run_until(30_000, |_| false);
        let mut answered = false;
        for _ in 0..4 {
            let f = Frame::new(77, Command::Identify as u8, vec![]);
            let r = s.exchange_bytes(&f.encode().unwrap());
            if r.command == Command::Identify as u8 | RESPONSE {
                assert_eq!(Identity::decode(&r.payload).unwrap(), expected);
                answered = true;
                break;
            }
        }
        assert!(answered, "identify got through after noise");
    }
    let status = s.status();
    assert!(status.device(DeviceCounter::FrameErrors) >= 2);
}

#[test]
fn a_retried_classify_is_not_fed_twice_and_reset_recovers_mid_batch() {
    let (model, test) = digits();
    let config = HwConfig::new(vec![4, 2]);
    let mut s = Session::new(&model, &config);
    // One whole image, sent twice with the same sequence number (its answer "lost").
    let payload = encode_image(test.image(0));
    let frame = Frame::new(50, Command::Classify as u8, payload);
    for _ in 0..2 {
        let r = s.exchange_bytes(&frame.encode().unwrap());
        assert_eq!(r.command, Command::Classify as u8 | RESPONSE);
    }
    s.sim.run_until(5_000, |_| false);
    let fed = s.status().device(DeviceCounter::ImagesFed);
    assert_eq!(fed, 1, "the retried classify fed its image once");
    // Half an image in, then a host restart: reset finishes and drops it.
    let half = classify_payloads(&[encode_image(test.image(1))], 40)[0].clone();
    s.ok(Command::Classify, half);
    s.ok(Command::Reset, vec![]);
    let status = s.status();
    for c in [
        DeviceCounter::ImagesFed,
        DeviceCounter::ResultsOut,
        DeviceCounter::FrameErrors,
    ] {
        assert_eq!(status.device(c), 0, "{c:?} after reset");
    }
    assert_eq!(
        status.device(DeviceCounter::FramesOk),
        1,
        "the status request itself"
    );
    assert_eq!(status.accelerator[Counter::ImagesIn.select(2)], 0);
    let images: Vec<&[u8]> = (2..5).map(|i| test.image(i)).collect();
    let results = s.classify(&images);
    assert_golden(&model, &images, &results, 0);
}

/// A model of the same design with other weights and initial values, into lanes with their
/// own weight memories (4 lanes, 8 neuron groups) and into lanes that share them in pairs
/// (32 lanes, one group).
#[test]
fn a_model_of_the_same_design_loads_at_run_time() {
    for lanes in [4, 32] {
        loads_at_run_time(&HwConfig::new(vec![lanes, 2]));
    }
}

fn loads_at_run_time(config: &HwConfig) {
    let (model, test) = digits();
    let other = retrained(&model, 3);
    other.validate().unwrap();
    assert_eq!(
        identity(&model, config).unwrap().design_hash,
        identity(&other, config).unwrap().design_hash
    );
    let mut s = Session::new(&model, config);
    // Refused while images are in flight, and when malformed (a lane past the layer's).
    s.ok(
        Command::Classify,
        classify_payloads(&[encode_image(test.image(0))], 256)[0].clone(),
    );
    let busy = load_payload(0, LoadTarget::Weights, 0, 0, &[1]);
    assert_eq!(s.error(Command::LoadWeights, busy), ErrorCode::Busy as u8);
    let mut results = Vec::new();
    while results.is_empty() {
        s.read_result(&mut results);
    }
    for bad in [
        load_payload(0, LoadTarget::Weights, config.lanes[0] as u16, 0, &[1]),
        load_payload(2, LoadTarget::Weights, 0, 0, &[1]),
        load_payload(1, LoadTarget::InitialValues, 0, 15, &[1, 2]),
        load_payload(0, LoadTarget::ModelHash, 0, 0, &[1]),
        vec![0, 0, 0],
    ] {
        assert_eq!(
            s.error(Command::LoadWeights, bad),
            ErrorCode::BadPayload as u8
        );
    }
    for request in load_requests(&other, &config.lanes).unwrap() {
        s.ok(Command::LoadWeights, request);
    }
    assert_eq!(s.identify(), identity(&other, config).unwrap());
    let images: Vec<&[u8]> = (0..8).map(|i| test.image(i)).collect();
    let results = s.classify(&images);
    assert_golden(&other, &images, &results, 1);
}

/// A convolutional network (max pooling included, its first convolution on the pixels) of the
/// same design loads at run time: its
/// kernels and initial values reach every bank's lanes, and its results are the golden
/// model's. Then, layer by layer, a model that differs from the one loaded before in that
/// layer's weights alone, then in its biases alone: its results need that load (the pixel
/// layer's, the event-driven convolution's, the dense layers').
#[test]
fn a_convolutional_model_of_the_same_design_loads_at_run_time() {
    use fs_hdl::core::pixel_conv_layer::from_pixels;
    use fs_model::geometry::{LayerKind, PoolKind};
    use fs_testkit::random::{ModelSpec, random_images, random_model};
    #[derive(Clone, Copy)]
    enum Change {
        Everything,
        Weights(usize),
        Biases(usize),
    }
    let differs = |a: &Model, b: &Model, images: &[Vec<u8>]| {
        let (a, b) = (FixedEngine::new(a), FixedEngine::new(b));
        images.iter().any(|i| a.run(i).logits != b.run(i).logits)
    };
    // Other parameters that change some result of `model`. One layer's weights or biases
    // change sign here and there, so that its accumulators' bounds stay those of a valid
    // model (new values at random would often exceed them).
    let retrain = |model: &Model, change: Change, images: &[Vec<u8>]| {
        (1..40)
            .map(|seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut changed = model.clone();
                match change {
                    Change::Everything => return retrained(model, seed),
                    Change::Weights(l) => {
                        let w = model.format.weight_range();
                        changed.layers[l].weight.mapv_inplace(|x| {
                            if rng.gen_bool(0.3) {
                                (-(x as i64)).clamp(w.min, w.max) as i16
                            } else {
                                x
                            }
                        });
                    }
                    Change::Biases(l) => {
                        let m = model.format.membrane_range();
                        let imp = changed.layers[l].imp as i64;
                        for b in &mut changed.layers[l].bias {
                            if rng.gen_bool(0.5) {
                                *b = ((-(*b as i64 + imp)).clamp(m.min, m.max) - imp) as i32;
                            }
                        }
                    }
                }
                changed
            })
            .find(|o| o.validate().is_ok() && differs(o, model, images))
    };
    // A network with two convolutions and max pooling, and the models to load in turn.
    let (model, images, loads) = (0..1000)
        .map(|seed| random_model(seed, &ModelSpec::rtl_cnn()))
        .filter(|m| {
            let l = &m.ann.layers;
            from_pixels(m)
                && l.iter()
                    .filter(|l| matches!(l.kind, LayerKind::Conv2d { .. }))
                    .count()
                    >= 2
                && l.iter()
                    .any(|l| l.pool.is_some_and(|p| p.kind == PoolKind::Max))
        })
        .find_map(|model| {
            let images = random_images(&model, 6, 9);
            let mut loads = vec![retrain(&model, Change::Everything, &images)?];
            for l in 0..model.layers.len() {
                for change in [Change::Weights(l), Change::Biases(l)] {
                    let next = retrain(loads.last().unwrap(), change, &images);
                    eprintln!(
                        "DEBUG layer {l} {} {}",
                        matches!(change, Change::Weights(_)),
                        next.is_some()
                    );
                    let next = next?;
                    loads.push(next);
                }
            }
            Some((model, images, loads))
        })
        .expect("a random CNN with two convolutions and max pooling, and weights to load");
    let images: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
    let config = HwConfig::uniform(&model, 16);
    let mut s = Session::new(&model, &config);
    for (n, loaded) in loads.iter().enumerate() {
        for request in load_requests(loaded, &config.lanes).unwrap() {
            s.ok(Command::LoadWeights, request);
        }
        assert_eq!(s.identify(), identity(loaded, &config).unwrap());
        let results = s.classify(&images);
        // (Result indices run on from one classification to the next.)
        assert_golden(loaded, &images, &results, (n * images.len()) as u32);
    }
}

/// The generated Verilog of the device agrees with RustHDL cycle for cycle on a session with
/// every request kind, a bad frame and a run-time load.
#[test]
fn device_verilog_agrees_cycle_for_cycle() {
    use fs_testbench::{Port, cross_check};
    let (model, test) = digits();
    let config = HwConfig::new(vec![2, 2]);
    let mut s = Session::new(&model, &config);
    s.sim.vectors = Some(Vec::new());
    s.identify();
    let images: Vec<&[u8]> = (0..3).map(|i| test.image(i)).collect();
    let results = s.classify(&images);
    assert_golden(&model, &images, &results, 0);
    s.status();
    let mut bad = Frame::new(1, Command::Status as u8, vec![])
        .encode()
        .unwrap();
    bad[6] ^= 0x80;
    s.exchange_bytes(&bad);
    s.ok(
        Command::LoadWeights,
        load_payload(0, LoadTarget::Weights, 1, 3, &[5, 0xffff_fff0]),
    );
    s.ok(
        Command::LoadWeights,
        load_payload(1, LoadTarget::InitialValues, 1, 2, &[77]),
    );
    s.ok(Command::Reset, vec![]);
    s.identify();
    let vectors = s.sim.vectors.take().unwrap();
    let trace = cross_check(
        &mut Device::new(&model, &config, 5000).unwrap(),
        &[
            Port::new("rx_valid", 1),
            Port::new("rx_data", 8),
            Port::new("rx_lost", 1),
            Port::new("tx_ready", 1),
        ],
        &[
            Port::new("rx_ready", 1),
            Port::new("tx_valid", 1),
            Port::new("tx_data", 8),
            Port::new("active", 1),
            Port::new("feeding", 1),
        ],
        &vectors,
        |u, v| {
            u.rx_valid.next = v[0] == 1;
            u.rx_data.next = v[1].into();
            u.rx_lost.next = v[2] == 1;
            u.tx_ready.next = v[3] == 1;
        },
        |u| {
            vec![
                u.rx_ready.val() as u64,
                u.tx_valid.val() as u64,
                u.tx_data.val().into(),
                u.active.val() as u64,
                u.feeding.val() as u64,
            ]
        },
        |u, level| u.clock.next = level.into(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let sent = trace.cycles.iter().filter(|c| c.outputs[1] == 1).count();
    assert!(sent > 200, "only {sent} bytes sent: the session did little");
}

/// Bit errors on the link never change a result: every request crosses a link that flips a
/// random bit of it (or of nothing) and is sent again, with the same sequence number, until a
/// good response comes back, as the host does. Every image is classified once, exactly as the
/// golden model classifies it.
#[test]
fn corrupted_requests_are_refused_or_retried_and_never_change_a_result() {
    let (model, test) = digits();
    let config = HwConfig::new(vec![2, 2]);
    let mut s = Session::new(&model, &config);
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let images: Vec<&[u8]> = (20..30).map(|i| test.image(i)).collect();
    let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
    let mut flips = 0;
    let mut send = |s: &mut Session, command: Command, payload: &[u8]| -> Frame {
        s.sequence = s.sequence.wrapping_add(1);
        let bytes = Frame::new(s.sequence, command as u8, payload.to_vec())
            .encode()
            .unwrap();
        for _ in 0..20 {
            let mut wire = bytes.clone();
            if rng.gen_bool(0.5) {
                let bit = rng.gen_range(0..wire.len() * 8);
                wire[bit / 8] ^= 1 << (bit % 8);
                flips += 1;
            }
            // A corrupted length can leave the device waiting for more bytes: the frame gap
            // (5,000 cycles here) abandons it, as the host's timeout gives up on the answer.
            match s.try_exchange(&wire, 20_000) {
                Some(Ok(r))
                    if r.sequence == s.sequence && r.command == command as u8 | RESPONSE =>
                {
                    return r;
                }
                Some(Ok(r)) if r.sequence == s.sequence && r.payload == [ErrorCode::Busy as u8] => {
                    return r;
                }
                _ => s.sim.run_until(6_000, |_| false),
            };
        }
        panic!("no good response to {command:?} in 20 tries");
    };
    let mut results = Vec::new();
    for payload in classify_payloads(&codes, DEVICE_MAX_PAYLOAD) {
        while send(&mut s, Command::Classify, &payload).command
            != Command::Classify as u8 | RESPONSE
        {
            let r = send(&mut s, Command::ReadResults, &[]);
            let r = ResultResponse::decode(&r.payload, 10).unwrap();
            results.extend(r.result.map(|(l, c)| (r.index, l, c)));
        }
    }
    while results.len() < images.len() {
        let r = send(&mut s, Command::ReadResults, &WAIT_FOR_RESULT);
        let r = ResultResponse::decode(&r.payload, 10).unwrap();
        results.extend(r.result.map(|(l, c)| (r.index, l, c)));
    }
    assert_golden(&model, &images, &results, 0);
    assert!(flips > 5, "only {flips} corrupted requests");
    let status = s.status();
    assert_eq!(status.device(DeviceCounter::ImagesFed), images.len() as u32);
    assert_eq!(status.device(DeviceCounter::CodeErrors), 0);
}
