#!/usr/bin/env python3
"""A minimal host for the fs-accel wire protocol (docs/protocol.md), in Python with pyserial:
identifies the device, classifies the first MNIST test images and checks their classes
against the labels. Run it against a board's port or `fpga-host serve`'s terminal:

    python3 scripts/client.py PORT [--baud 3000000] [--count 3] [--data data/mnist]
                              [--model models/mnist-mlp.fsnn]

Pixels go to the device in its model's input range (the model file says it: 0..=7 for the
shipped MNIST MLP's 3-bit pixels), rescaled from 8-bit grey levels as `fpga-host` does.
"""
import argparse, gzip, json, struct, sys
import serial

SYNC, IDENTIFY, CLASSIFY, READ_RESULTS, ERROR, BUSY = 0xA5, 0x01, 0x03, 0x04, 0x7F, 6


def crc16(data):  # CRC-16/IBM-3740: polynomial 0x1021, initial 0xFFFF, no reflection
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


class Device:
    def __init__(self, port):
        self.port, self.sequence = port, 0

    def request(self, command, payload=b""):
        """Sends one request; returns (response command, payload)."""
        self.sequence = (self.sequence + 1) & 0xFF
        body = struct.pack("<HBB", len(payload), self.sequence, command) + payload
        self.port.write(bytes([SYNC]) + body + struct.pack("<H", crc16(body)))
        while (b := self.port.read(1)) != bytes([SYNC]):
            if not b:
                sys.exit("no answer from the device")
        head = self.port.read(4)
        length, sequence, answer = struct.unpack("<HBB", head)
        data = self.port.read(length)
        (crc,) = struct.unpack("<H", self.port.read(2))
        if crc != crc16(head + data) or sequence != self.sequence:
            sys.exit("corrupt response")
        return answer, data


def input_range(model_path):
    """The largest pixel value a model takes, from its file's header (safetensors: a u64
    length, then JSON whose metadata holds the model description)."""
    with open(model_path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return json.loads(header["__metadata__"]["fsnn"])["input"]["max_value"]


def rescale(pixels, to):
    """8-bit grey levels to 0..=to, rounded to nearest with halves up (fs_model::data)."""
    return bytes((2 * p * to + 255) // (2 * 255) for p in pixels)


def encode(pixels):
    """The sparse image code: groups [zeros, count, count literal pixels], runs of 255 at most."""
    code, at = bytearray(), 0
    while at < len(pixels):
        zeros = 0
        while at < len(pixels) and pixels[at] == 0 and zeros < 255:
            zeros, at = zeros + 1, at + 1
        start = at
        while at < len(pixels) and pixels[at] != 0 and at - start < 255:
            at += 1
        code += bytes([zeros, at - start]) + bytes(pixels[start:at])
    return bytes(code)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("port")
    args.add_argument("--baud", type=int, default=3_000_000)
    args.add_argument("--count", type=int, default=3)
    args.add_argument("--data", default="data/mnist")
    args.add_argument("--model", default="models/mnist-mlp.fsnn")
    a = args.parse_args()
    max_value = input_range(a.model)
    with gzip.open(f"{a.data}/t10k-images-idx3-ubyte.gz") as f:
        images = f.read()[16:]
    with gzip.open(f"{a.data}/t10k-labels-idx1-ubyte.gz") as f:
        labels = f.read()[8:]
    device = Device(serial.Serial(a.port, a.baud, timeout=120))
    answer, data = device.request(IDENTIFY)
    assert answer == IDENTIFY | 0x80 and data[:4] == b"FSA1", (answer, data[:4])
    _, _, max_payload = struct.unpack("<BBH", data[4:8])
    inputs, classes = struct.unpack("<HH", data[8:12])
    print(f"device: {inputs} inputs, {classes} classes, payloads up to {max_payload} bytes")
    wrong = 0
    for n in range(a.count):
        code = encode(rescale(images[n * inputs:(n + 1) * inputs], max_value))
        step = max_payload
        for i in range(0, len(code), step):
            while device.request(CLASSIFY, code[i:i + step]) == (ERROR, bytes([BUSY])):
                device.request(READ_RESULTS)  # wait until the decoder is free
        while True:  # the image's result: count of earlier results, flags, logits, class
            _, data = device.request(READ_RESULTS, bytes([1]))
            if len(data) > 8:
                break
        logits = struct.unpack(f"<{classes}i", data[8:8 + 4 * classes])
        label, got = labels[n], data[8 + 4 * classes]
        wrong += got != label
        print(f"image {n}: class {got}, label {label}, logits {list(logits)}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
