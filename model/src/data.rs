//! Data sets: loading MNIST and the UCI digits from the repository's `data/` folder.
//!
//! Both are kept as raw `u8` pixels (row-major, one image after another) with `u8` labels 0-9,
//! exactly as stored, so every consumer quantises from the same integers.
//!
//! - MNIST: the standard gzip-compressed IDX files, 60,000 train / 10,000 test, 28x28, 0..=255.
//! - Digits: `digits.csv.gz`, 1,797 rows of 64 pixels 0..=16 (8x8) then the label; it has no
//!   official split, so [`load_digits`] holds out every fifth row as the test set.
//!
//! Loading from disk checks each file's md5 against the published one, so a result always comes
//! from the standard data; the `parse_*` functions check structure only and accept any bytes
//! without panicking. Every error names the file and what is wrong with it.

use anyhow::{Context, Result, bail, ensure};
use flate2::read::GzDecoder;
use md5::{Digest, Md5};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Environment variable naming the data folder (the one holding `mnist/` and `digits/`).
pub const DATA_ENV: &str = "FS_ACCEL_DATA";

/// Most bytes a file may decompress to: far above MNIST's 47 MB, low enough that a corrupt
/// header or a gzip bomb cannot exhaust memory.
const MAX_DECOMPRESSED: usize = 256 << 20;

const IDX_IMAGES_MAGIC: u32 = 2051;
const IDX_LABELS_MAGIC: u32 = 2049;

/// A file of a data set with its published md5 (of the compressed bytes).
struct DataFile {
    path: &'static str,
    md5: &'static str,
}

impl DataFile {
    const fn new(path: &'static str, md5: &'static str) -> Self {
        DataFile { path, md5 }
    }
}

const MNIST_TRAIN_IMAGES: DataFile = DataFile::new(
    "mnist/train-images-idx3-ubyte.gz",
    "c7dfcf1bfd3481a40f7b3aedbdbd083c",
);
const MNIST_TRAIN_LABELS: DataFile = DataFile::new(
    "mnist/train-labels-idx1-ubyte.gz",
    "d289298a347a2cc65765a3c81043ba88",
);
const MNIST_TEST_IMAGES: DataFile = DataFile::new(
    "mnist/t10k-images-idx3-ubyte.gz",
    "ecff87aa27c74fbc2c1f97e89c19221d",
);
const MNIST_TEST_LABELS: DataFile = DataFile::new(
    "mnist/t10k-labels-idx1-ubyte.gz",
    "a38049bc042dc6e683842a84160daae1",
);
const DIGITS_CSV: DataFile =
    DataFile::new("digits/digits.csv.gz", "9b335364a7bfd63947c7480a5bd51f2d");

/// Which data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    Digits,
}

impl DatasetKind {
    /// Every data set, in the order error messages list them.
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Mnist, DatasetKind::Digits];

    /// Lower-case name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Digits => "digits",
        }
    }

    /// Pixels per image.
    pub fn input_size(self) -> usize {
        self.width() * self.height()
    }

    /// Largest pixel value.
    pub fn max_value(self) -> u8 {
        match self {
            DatasetKind::Mnist => 255,
            DatasetKind::Digits => 16,
        }
    }

    /// Image width in pixels.
    pub fn width(self) -> usize {
        match self {
            DatasetKind::Mnist => 28,
            DatasetKind::Digits => 8,
        }
    }

    /// Image height in pixels.
    pub fn height(self) -> usize {
        self.width()
    }
}

impl FromStr for DatasetKind {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
        {
            Some(kind) => Ok(kind),
            None => {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.name()).collect();
                bail!(
                    "unknown data set {s:?}: expected one of {}",
                    names.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Images (row-major u8 pixels, one image after another) with labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub kind: DatasetKind,
    /// The largest pixel value, which stands for 1.0: the data set's own
    /// ([`DatasetKind::max_value`]) unless the images were [`Dataset::rescaled`].
    pub max_value: u32,
    /// `len() * kind.input_size()` pixels.
    pub pixels: Vec<u8>,
    /// One label 0-9 per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.kind.input_size();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The label of image `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        usize::from(self.labels[i])
    }

    /// The first `n` images (all if fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            kind: self.kind,
            max_value: self.max_value,
            pixels: self.pixels[..n * self.kind.input_size()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// A subset by indices (for held-out/calibration splits), in the order given.
    /// Panics if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            kind: self.kind,
            max_value: self.max_value,
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i))
                .copied()
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// The same images with pixels rescaled to `0..=max_value`, rounded to nearest (halves
    /// up): `p' = (2 p max_value + M) div 2M`, `M` the current largest value. Fewer input bits
    /// (`--input-bits`) take images to `2^B - 1` this way; a rescale to the current range
    /// changes nothing.
    pub fn rescaled(&self, max_value: u32) -> Result<Dataset> {
        ensure!(
            (1..=255).contains(&max_value),
            "cannot rescale {} images to 0..={max_value}: pixels are bytes, 1..=255",
            self.kind
        );
        Ok(Dataset {
            kind: self.kind,
            max_value,
            pixels: self
                .pixels
                .iter()
                .map(|&p| rescale_pixel(p, self.max_value, max_value))
                .collect(),
            labels: self.labels.clone(),
        })
    }
}

/// A pixel of `0..=from` taken to `0..=to`, rounded to nearest with halves up:
/// `(2 p to + from) div 2 from` (the rule of [`Dataset::rescaled`] and of users' own images).
pub fn rescale_pixel(p: u8, from: u32, to: u32) -> u8 {
    let (p, from, to) = (u64::from(p), u64::from(from.max(1)), u64::from(to));
    ((2 * p * to + from) / (2 * from)).min(255) as u8
}

impl Split {
    /// Both halves [`Dataset::rescaled`].
    pub fn rescaled(&self, max_value: u32) -> Result<Split> {
        Ok(Split {
            train: self.train.rescaled(max_value)?,
            test: self.test.rescaled(max_value)?,
        })
    }
}

/// A data set's training and test images.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

/// Where the data folder is: `$FS_ACCEL_DATA` if set, else `./data` if it exists, else the
/// workspace's `data/` (found from this crate's manifest directory at build time).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let local = Path::new("data");
    if local.is_dir() {
        return local.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
}

/// Loads a data set's train and test split from `dir` (the folder holding `mnist/` and `digits/`).
pub fn load(kind: DatasetKind, dir: &Path) -> Result<Split> {
    match kind {
        DatasetKind::Mnist => load_mnist(dir),
        DatasetKind::Digits => load_digits(dir),
    }
}

/// Loads MNIST's standard split from `dir/mnist/`, checking every file's md5.
pub fn load_mnist(dir: &Path) -> Result<Split> {
    let part = |images: &DataFile, labels: &DataFile| -> Result<Dataset> {
        let (images_path, labels_path) = (dir.join(images.path), dir.join(labels.path));
        let images_gz = read_checked(&images_path, images.md5)?;
        let labels_gz = read_checked(&labels_path, labels.md5)?;
        mnist_dataset(&images_path, &images_gz, &labels_path, &labels_gz)
    };
    Ok(Split {
        train: part(&MNIST_TRAIN_IMAGES, &MNIST_TRAIN_LABELS)?,
        test: part(&MNIST_TEST_IMAGES, &MNIST_TEST_LABELS)?,
    })
}

/// Loads the UCI digits from `dir/digits/digits.csv.gz`, checking its md5.
///
/// The set has no official split, so this one is fixed and deterministic: rows whose index
/// (from 0, in file order) is a multiple of 5 are the test set (360 images), the others the
/// training set (1,437 images). Every class is in both; the test set has 26 to 48 images of each.
pub fn load_digits(dir: &Path) -> Result<Split> {
    let path = dir.join(DIGITS_CSV.path);
    let gz = read_checked(&path, DIGITS_CSV.md5)?;
    let (pixels, labels) = parse_digits_csv(&gz)
        .with_context(|| format!("{}: not a valid digits CSV file", path.display()))?;
    let all = Dataset {
        kind: DatasetKind::Digits,
        max_value: DatasetKind::Digits.max_value().into(),
        pixels,
        labels,
    };
    let (test, train): (Vec<usize>, Vec<usize>) = (0..all.len()).partition(|i| i % 5 == 0);
    Ok(Split {
        train: all.select(&train),
        test: all.select(&test),
    })
}

/// Parses a gzip-compressed IDX image file: returns (count, rows, cols, pixels).
pub fn parse_idx_images(gz_bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    let mut gz = GzDecoder::new(gz_bytes);
    let header = read_exactly(&mut gz, 16, "header")?;
    let [magic, count, rows, cols] = [0, 4, 8, 12].map(|at| be_u32(&header[at..]));
    check_magic(magic, IDX_IMAGES_MAGIC)?;
    let (count, rows, cols) = (count as usize, rows as usize, cols as usize);
    let size = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .filter(|&n| n <= MAX_DECOMPRESSED)
        .with_context(|| {
            format!("header declares {count} images of {rows}x{cols}: more than the {MAX_DECOMPRESSED}-byte limit")
        })?;
    let pixels = read_exactly(&mut gz, size, "pixel data")?;
    check_end(&mut gz)?;
    Ok((count, rows, cols, pixels))
}

/// Parses a gzip-compressed IDX label file; every label must be a digit 0-9.
pub fn parse_idx_labels(gz_bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = GzDecoder::new(gz_bytes);
    let header = read_exactly(&mut gz, 8, "header")?;
    check_magic(be_u32(&header), IDX_LABELS_MAGIC)?;
    let count = be_u32(&header[4..]) as usize;
    ensure!(
        count <= MAX_DECOMPRESSED,
        "header declares {count} labels: more than the {MAX_DECOMPRESSED}-byte limit"
    );
    let labels = read_exactly(&mut gz, count, "label data")?;
    check_end(&mut gz)?;
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        bail!("label {} at index {i} is not a digit 0-9", labels[i]);
    }
    Ok(labels)
}

/// Parses the gzip-compressed digits CSV: no header, each row 64 pixels 0..=16 then the label
/// 0-9. Returns (pixels, labels).
pub fn parse_digits_csv(gz_bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    const FIELDS: usize = 64 + 1;
    let mut raw = Vec::new();
    GzDecoder::new(gz_bytes)
        .take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut raw)
        .context("bad gzip data (truncated or corrupt)")?;
    ensure!(
        raw.len() <= MAX_DECOMPRESSED,
        "decompresses to more than {MAX_DECOMPRESSED} bytes"
    );
    let text = std::str::from_utf8(&raw).context("not UTF-8 text")?;

    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (l, line) in text.lines().enumerate() {
        let line_no = l + 1;
        let fields: Vec<&str> = line.split(',').collect();
        ensure!(
            fields.len() == FIELDS,
            "line {line_no}: expected {FIELDS} fields (64 pixels and the label), got {}",
            fields.len()
        );
        for (c, field) in fields.iter().enumerate() {
            let (col, is_label) = (c + 1, c == FIELDS - 1);
            let (what, max) = if is_label {
                ("label", 9)
            } else {
                ("pixel", 16)
            };
            let value: u8 = field
                .trim()
                .parse()
                .ok()
                .filter(|&v| v <= max)
                .with_context(|| {
                    format!(
                        "line {line_no}, column {col}: {what} {field:?} is not an integer 0..={max}"
                    )
                })?;
            if is_label {
                labels.push(value);
            } else {
                pixels.push(value);
            }
        }
    }
    ensure!(!labels.is_empty(), "no rows");
    Ok((pixels, labels))
}

/// Builds one MNIST part from its image and label files, checking that they agree.
fn mnist_dataset(
    images_path: &Path,
    images_gz: &[u8],
    labels_path: &Path,
    labels_gz: &[u8],
) -> Result<Dataset> {
    let kind = DatasetKind::Mnist;
    let (count, rows, cols, pixels) = parse_idx_images(images_gz)
        .with_context(|| format!("{}: not a valid IDX image file", images_path.display()))?;
    let labels = parse_idx_labels(labels_gz)
        .with_context(|| format!("{}: not a valid IDX label file", labels_path.display()))?;
    ensure!(
        (rows, cols) == (kind.height(), kind.width()),
        "{}: images are {rows}x{cols}, expected {}x{}",
        images_path.display(),
        kind.height(),
        kind.width()
    );
    ensure!(
        count == labels.len(),
        "{} holds {count} images but {} holds {} labels",
        images_path.display(),
        labels_path.display(),
        labels.len()
    );
    Ok(Dataset {
        kind,
        max_value: kind.max_value().into(),
        pixels,
        labels,
    })
}

/// Reads a data file and checks its md5, so results never silently come from other data.
fn read_checked(path: &Path, expected_md5: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read data file {} (the data folder can be set with {DATA_ENV})",
            path.display()
        )
    })?;
    let got: String = Md5::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(
        got == expected_md5,
        "{}: md5 is {got}, expected {expected_md5}: the file is corrupt or not the standard one",
        path.display()
    );
    Ok(bytes)
}

/// Reads exactly `n` decompressed bytes of `what`; a short stream is reported as truncated.
fn read_exactly(gz: &mut GzDecoder<&[u8]>, n: usize, what: &str) -> Result<Vec<u8>> {
    // Grows with the data actually present, so a false header cannot force a huge allocation.
    let mut buf = Vec::new();
    gz.take(n as u64).read_to_end(&mut buf).with_context(|| {
        format!("bad gzip data while reading the {what} (truncated or corrupt)")
    })?;
    ensure!(
        buf.len() == n,
        "truncated {what}: expected {n} bytes, got {}",
        buf.len()
    );
    Ok(buf)
}

/// Checks that the stream ends right after the declared data; reaching the end also makes the
/// decoder verify the gzip CRC.
fn check_end(gz: &mut GzDecoder<&[u8]>) -> Result<()> {
    let extra = gz
        .read(&mut [0u8; 1])
        .context("bad gzip data at the end of the stream (truncated or corrupt)")?;
    ensure!(extra == 0, "extra data after the declared items");
    Ok(())
}

fn check_magic(got: u32, expected: u32) -> Result<()> {
    ensure!(
        got == expected,
        "wrong magic number {got} (expected {expected}; images have {IDX_IMAGES_MAGIC}, labels {IDX_LABELS_MAGIC})"
    );
    Ok(())
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The repository's data folder (independent of `FS_ACCEL_DATA` and the working directory).
    fn repo_data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("data")
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn idx_images(magic: u32, count: u32, rows: u32, cols: u32, payload: &[u8]) -> Vec<u8> {
        let mut raw: Vec<u8> = [magic, count, rows, cols]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        raw.extend_from_slice(payload);
        gzip(&raw)
    }

    fn idx_labels(count: u32, labels: &[u8]) -> Vec<u8> {
        let mut raw: Vec<u8> = [IDX_LABELS_MAGIC, count]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        raw.extend_from_slice(labels);
        gzip(&raw)
    }

    /// The full error chain, as `{:#}` prints it.
    fn message<T: fmt::Debug>(result: Result<T>) -> String {
        format!("{:#}", result.expect_err("expected an error"))
    }

    /// A fresh folder under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("fs-accel-data-{name}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn class_counts(d: &Dataset) -> [usize; 10] {
        let mut counts = [0; 10];
        for i in 0..d.len() {
            counts[d.label(i)] += 1;
        }
        counts
    }

    #[test]
    fn loads_real_mnist() {
        let split = load(DatasetKind::Mnist, &repo_data()).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));
        for d in [&split.train, &split.test] {
            assert_eq!(d.kind, DatasetKind::Mnist);
            assert_eq!(d.pixels.len(), d.len() * 784);
            assert_eq!(d.image(d.len() - 1).len(), 784);
            assert_eq!(d.pixels.iter().max(), Some(&255));
        }
        assert_eq!(
            class_counts(&split.test),
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert_eq!(
            class_counts(&split.train),
            [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
    }

    #[test]
    fn loads_real_digits_with_held_out_split() {
        let split = load(DatasetKind::Digits, &repo_data()).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (1437, 360));
        for d in [&split.train, &split.test] {
            assert_eq!(d.kind, DatasetKind::Digits);
            assert_eq!(d.pixels.len(), d.len() * 64);
            assert_eq!(d.pixels.iter().max(), Some(&16));
        }
        // File rows 0, 1, 2 are labelled 0, 1, 2: row 0 is test, rows 1 and 2 train.
        assert_eq!(split.test.label(0), 0);
        assert_eq!((split.train.label(0), split.train.label(1)), (1, 2));
        assert_eq!(&split.test.image(0)[..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
        assert_eq!(
            class_counts(&split.test),
            [42, 28, 26, 48, 38, 39, 30, 26, 36, 47]
        );
    }

    #[test]
    fn parses_well_formed_idx() {
        let (count, rows, cols, pixels) =
            parse_idx_images(&idx_images(IDX_IMAGES_MAGIC, 2, 2, 3, &[1; 12])).unwrap();
        assert_eq!((count, rows, cols, pixels), (2, 2, 3, vec![1; 12]));
        assert_eq!(
            parse_idx_labels(&idx_labels(3, &[7, 0, 9])).unwrap(),
            vec![7, 0, 9]
        );
    }

    #[test]
    fn rejects_truncated_gzip() {
        let gz = idx_images(IDX_IMAGES_MAGIC, 50, 10, 10, &[3; 5000]);
        let err = message(parse_idx_images(&gz[..gz.len() / 2]));
        assert!(err.contains("bad gzip data"), "{err}");
        let err = message(parse_idx_labels(b"not gzip at all"));
        assert!(err.contains("bad gzip data"), "{err}");
        let err = message(parse_digits_csv(&gzip(b"1,2,3")[..10]));
        assert!(err.contains("bad gzip data"), "{err}");
    }

    #[test]
    fn rejects_wrong_magic() {
        // A label file given as images, and the reverse.
        let err = message(parse_idx_images(&idx_images(
            IDX_LABELS_MAGIC,
            1,
            1,
            1,
            &[0],
        )));
        assert!(
            err.contains("wrong magic number 2049 (expected 2051"),
            "{err}"
        );
        let err = message(parse_idx_labels(&idx_images(
            IDX_IMAGES_MAGIC,
            1,
            1,
            1,
            &[0],
        )));
        assert!(
            err.contains("wrong magic number 2051 (expected 2049"),
            "{err}"
        );
    }

    #[test]
    fn rejects_truncated_or_oversized_payload() {
        let err = message(parse_idx_images(&idx_images(
            IDX_IMAGES_MAGIC,
            3,
            2,
            2,
            &[0; 10],
        )));
        assert!(
            err.contains("truncated pixel data: expected 12 bytes, got 10"),
            "{err}"
        );
        let err = message(parse_idx_labels(&idx_labels(5, &[1, 2])));
        assert!(
            err.contains("truncated label data: expected 5 bytes, got 2"),
            "{err}"
        );
        let err = message(parse_idx_labels(&gzip(&[0, 0, 8])));
        assert!(
            err.contains("truncated header: expected 8 bytes, got 3"),
            "{err}"
        );
        let err = message(parse_idx_labels(&idx_labels(2, &[1, 2, 3])));
        assert!(err.contains("extra data"), "{err}");
        let err = message(parse_idx_images(&idx_images(
            IDX_IMAGES_MAGIC,
            u32::MAX,
            u32::MAX,
            u32::MAX,
            &[],
        )));
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn never_panics_on_damaged_bytes() {
        // Every prefix and every single-byte flip of small valid files must give Ok or Err.
        let files = [
            idx_images(
                IDX_IMAGES_MAGIC,
                2,
                3,
                3,
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            ),
            idx_labels(4, &[0, 9, 3, 1]),
            gzip(format!("{}\n{}\n", csv_row("16", "9"), csv_row("3", "1")).as_bytes()),
        ];
        for gz in &files {
            for len in 0..gz.len() {
                let _ = (
                    parse_idx_images(&gz[..len]),
                    parse_idx_labels(&gz[..len]),
                    parse_digits_csv(&gz[..len]),
                );
            }
            for at in 0..gz.len() {
                for bit in 0..8 {
                    let mut bad = gz.clone();
                    bad[at] ^= 1 << bit;
                    let _ = (
                        parse_idx_images(&bad),
                        parse_idx_labels(&bad),
                        parse_digits_csv(&bad),
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_labels_above_nine() {
        let err = message(parse_idx_labels(&idx_labels(3, &[1, 10, 2])));
        assert!(
            err.contains("label 10 at index 1 is not a digit 0-9"),
            "{err}"
        );
    }

    #[test]
    fn rejects_mnist_parts_that_disagree() {
        let (images, labels) = (Path::new("/d/img.gz"), Path::new("/d/lbl.gz"));
        let err = message(mnist_dataset(
            images,
            &idx_images(IDX_IMAGES_MAGIC, 2, 28, 28, &[0; 2 * 784]),
            labels,
            &idx_labels(3, &[0, 1, 2]),
        ));
        assert!(
            err.contains("/d/img.gz holds 2 images but /d/lbl.gz holds 3 labels"),
            "{err}"
        );
        let err = message(mnist_dataset(
            images,
            &idx_images(IDX_IMAGES_MAGIC, 1, 8, 8, &[0; 64]),
            labels,
            &idx_labels(1, &[0]),
        ));
        assert!(
            err.contains("/d/img.gz: images are 8x8, expected 28x28"),
            "{err}"
        );
        let err = message(mnist_dataset(
            images,
            &idx_images(1, 0, 0, 0, &[]),
            labels,
            &idx_labels(0, &[]),
        ));
        assert!(
            err.contains("/d/img.gz: not a valid IDX image file: wrong magic number 1"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_checksum() {
        let tmp = TempDir::new("checksum");
        let mut bytes = std::fs::read(repo_data().join(DIGITS_CSV.path)).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        let path = tmp.0.join(DIGITS_CSV.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let err = message(load_digits(&tmp.0));
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("expected 9b335364a7bfd63947c7480a5bd51f2d"),
            "{err}"
        );
        assert!(err.contains("corrupt or not the standard one"), "{err}");
    }

    #[test]
    fn reports_missing_files_with_their_path() {
        let tmp = TempDir::new("missing");
        let err = message(load_mnist(&tmp.0));
        assert!(
            err.contains(&tmp.0.join(MNIST_TRAIN_IMAGES.path).display().to_string()),
            "{err}"
        );
        assert!(err.contains("FS_ACCEL_DATA"), "{err}");
        let err = message(load(DatasetKind::Digits, &tmp.0));
        assert!(
            err.contains(&tmp.0.join(DIGITS_CSV.path).display().to_string()),
            "{err}"
        );
    }

    /// A CSV row of 64 pixels `p` and label `label`, with field `bad.0` (0-based) set to `bad.1`.
    fn csv_row_with(p: &str, label: &str, bad: Option<(usize, &str)>) -> String {
        let mut fields = vec![p; 64];
        fields.push(label);
        if let Some((at, value)) = bad {
            fields[at] = value;
        }
        fields.join(",")
    }

    fn csv_row(p: &str, label: &str) -> String {
        csv_row_with(p, label, None)
    }

    #[test]
    fn parses_csv_and_rejects_bad_values() {
        let good = format!("{}\r\n{}\n", csv_row("16", "9"), csv_row("0", "0"));
        let (pixels, labels) = parse_digits_csv(&gzip(good.as_bytes())).unwrap();
        assert_eq!((pixels.len(), labels), (128, vec![9, 0]));

        let text = format!(
            "{}\n{}\n",
            csv_row("0", "0"),
            csv_row_with("1", "3", Some((4, "17")))
        );
        let err = message(parse_digits_csv(&gzip(text.as_bytes())));
        assert!(
            err.contains("line 2, column 5: pixel \"17\" is not an integer 0..=16"),
            "{err}"
        );

        let text = csv_row("2.5", "1");
        let err = message(parse_digits_csv(&gzip(text.as_bytes())));
        assert!(err.contains("line 1, column 1: pixel \"2.5\""), "{err}");
        let err = message(parse_digits_csv(&gzip(csv_row("1", "10").as_bytes())));
        assert!(
            err.contains("line 1, column 65: label \"10\" is not an integer 0..=9"),
            "{err}"
        );
        let err = message(parse_digits_csv(&gzip(b"")));
        assert!(err.contains("no rows"), "{err}");
    }

    #[test]
    fn rejects_short_csv_row() {
        let text = format!(
            "{}\n{}\n{}\n",
            csv_row("0", "0"),
            csv_row("0", "0"),
            "0,1,2,3"
        );
        let err = message(parse_digits_csv(&gzip(text.as_bytes())));
        assert!(
            err.contains("line 3: expected 65 fields (64 pixels and the label), got 4"),
            "{err}"
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in DatasetKind::ALL {
            assert_eq!(
                kind.name().to_uppercase().parse::<DatasetKind>().unwrap(),
                kind
            );
            assert_eq!(kind.to_string(), kind.name());
            assert_eq!(kind.input_size(), kind.width() * kind.height());
        }
        assert_eq!(
            (
                DatasetKind::Mnist.input_size(),
                DatasetKind::Digits.input_size()
            ),
            (784, 64)
        );
        let err = message("cifar".parse::<DatasetKind>());
        assert!(
            err.contains("\"cifar\"") && err.contains("mnist, digits"),
            "{err}"
        );
    }

    #[test]
    fn rescaling_rounds_to_nearest_and_keeps_the_labels() {
        let d = Dataset {
            kind: DatasetKind::Digits,
            max_value: 255,
            pixels: (0..64u8).map(|i| i * 4).collect(),
            labels: vec![7],
        };
        let three = d.rescaled(7).unwrap();
        assert_eq!(three.max_value, 7);
        assert_eq!(three.labels, d.labels);
        for (&p, &q) in d.pixels.iter().zip(&three.pixels) {
            // The nearest of 0..=7 to p * 7 / 255, halves up.
            let exact = f64::from(p) * 7.0 / 255.0;
            assert!((f64::from(q) - exact).abs() <= 0.5, "{p} -> {q}");
            assert!(q <= 7);
        }
        assert_eq!((three.pixels[0], three.pixels[63]), (0, 7)); // 0 and 252 of 255
        assert_eq!(d.rescaled(255).unwrap().pixels, d.pixels);
        assert!(d.rescaled(0).is_err());
        assert!(d.rescaled(256).unwrap_err().to_string().contains("1..=255"));
    }

    #[test]
    fn take_and_select_copy_whole_images() {
        let d = Dataset {
            kind: DatasetKind::Digits,
            max_value: 16,
            pixels: (0..3).flat_map(|i| [i as u8; 64]).collect(),
            labels: vec![4, 5, 6],
        };
        let first = d.take(2);
        assert_eq!((first.len(), first.pixels.len()), (2, 128));
        assert_eq!(d.take(10).len(), 3);
        let picked = d.select(&[2, 0]);
        assert_eq!(picked.labels, vec![6, 4]);
        assert_eq!((picked.image(0)[0], picked.image(1)[63]), (2, 0));
        assert!(d.take(0).is_empty());
    }
}
