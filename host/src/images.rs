//! Users' own images (`infer --images`, `eval --images`): PNG, JPEG and PGM/PPM files, folders
//! of them, or `.npy` arrays, made into the model's input by one rule (README, "Your own
//! images"):
//!
//! - colour becomes grey with the image crate's luma (ITU-R BT.709 weights); alpha is dropped;
//!   16-bit samples keep their top 8 bits;
//! - the size must be the model's (28 x 28 for MNIST): nothing is resized or cropped, another
//!   size is refused naming the file;
//! - grey levels `0..=255` are taken to the model's pixel range as the data sets are
//!   ([`fs_model::data::rescale_pixel`]); the pixels are used as they are (MNIST's digits are
//!   white on black: a black digit on white paper must be inverted first);
//! - a `.npy` array of `u8` (`0..=255`) or of `f32`/`f64` (`0..=1`, scaled by 255 and
//!   rounded), of shape `(H, W)`, `(N, H, W)` or `(N, H W)`, gives `N` images named
//!   `file.npy[i]`.
//!
//! A folder gives its image and `.npy` files (not its subfolders) in name order.

use anyhow::{Context, Result, bail, ensure};
use fs_model::data::rescale_pixel;
use fs_model::network::InputEncoding;
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};

/// File name extensions read as pictures.
const PICTURES: [&str; 6] = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm"];

/// One image to classify and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedImage {
    /// The file (with `[i]` for an array's image `i`).
    pub name: String,
    /// The model's input: `width x height` pixels in `0..=max_value`, row-major.
    pub pixels: Vec<u8>,
}

/// The images `paths` name (files or folders), made into `input`'s pixels.
pub fn load(paths: &[PathBuf], input: &InputEncoding) -> Result<Vec<NamedImage>> {
    ensure!(
        input.channels == 1,
        "the model takes {} input channels; images give one grey channel",
        input.channels
    );
    let mut images = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading the folder {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && (is_picture(p) || is_array(p)))
                .collect();
            ensure!(
                !files.is_empty(),
                "{} has no image files ({} or npy)",
                path.display(),
                PICTURES.join(", ")
            );
            files.sort();
            for file in files {
                images.extend(load_file(&file, input)?);
            }
        } else {
            images.extend(load_file(path, input)?);
        }
    }
    ensure!(!images.is_empty(), "no images given");
    Ok(images)
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_picture(path: &Path) -> bool {
    PICTURES.contains(&extension(path).as_str())
}

fn is_array(path: &Path) -> bool {
    extension(path) == "npy"
}

fn load_file(path: &Path, input: &InputEncoding) -> Result<Vec<NamedImage>> {
    ensure!(path.exists(), "{}: no such file or folder", path.display());
    if is_array(path) {
        return load_array(path, input);
    }
    ensure!(
        is_picture(path),
        "{}: not an image file (expected {} or npy)",
        path.display(),
        PICTURES.join(", ")
    );
    let picture =
        image::open(path).with_context(|| format!("{}: not a readable image", path.display()))?;
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    ensure!(
        (width, height) == (input.width, input.height),
        "{}: {width}x{height} pixels; the model takes {}x{} (images are not resized)",
        path.display(),
        input.width,
        input.height
    );
    let grey = picture.to_luma8();
    Ok(vec![NamedImage {
        name: path.display().to_string(),
        pixels: grey
            .as_raw()
            .iter()
            .map(|&p| rescale_pixel(p, 255, input.max_value))
            .collect(),
    }])
}

/// Reads an array of `u8`, or of `f32`/`f64` in `0..=1`, as grey levels `0..=255`.
fn read_levels(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let open = || File::open(path).with_context(|| format!("opening {}", path.display()));
    if let Ok(a) = ArrayD::<u8>::read_npy(open()?) {
        return Ok((a.shape().to_vec(), a.iter().copied().collect()));
    }
    let floats: ArrayD<f64> = if let Ok(a) = ArrayD::<f32>::read_npy(open()?) {
        a.mapv(f64::from)
    } else if let Ok(a) = ArrayD::<f64>::read_npy(open()?) {
        a
    } else {
        bail!(
            "{}: not a .npy array of u8, f32 or f64 (in C order)",
            path.display()
        );
    };
    if let Some(v) = floats.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        bail!(
            "{}: a float array holds {v}; float pixels must be in 0..=1",
            path.display()
        );
    }
    let levels = floats.iter().map(|v| (v * 255.0).round() as u8).collect();
    Ok((floats.shape().to_vec(), levels))
}

fn load_array(path: &Path, input: &InputEncoding) -> Result<Vec<NamedImage>> {
    let (shape, levels) = read_levels(path)?;
    let (h, w, size) = (input.height, input.width, input.size());
    let count = match shape[..] {
        [rows, cols] if (rows, cols) == (h, w) => 1,
        [n, rows, cols] if (rows, cols) == (h, w) => n,
        [n, pixels] if pixels == size => n,
        _ => bail!(
            "{}: an array of shape {shape:?}; the model takes {h}x{w} images: ({h}, {w}), \
             (N, {h}, {w}) or (N, {size})",
            path.display()
        ),
    };
    let single = shape.len() == 2 && count == 1 && shape[1] == w;
    Ok((0..count)
        .map(|i| NamedImage {
            name: match single {
                true => path.display().to_string(),
                false => format!("{}[{i}]", path.display()),
            },
            pixels: levels[i * size..(i + 1) * size]
                .iter()
                .map(|&p| rescale_pixel(p, 255, input.max_value))
                .collect(),
        })
        .collect())
}

/// One file's result: the class and logits (the device's, or the golden model's for `eval`),
/// and with `infer --check` the golden model's beside them.
#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    pub file: String,
    /// `None` when the device returned no result for it (named in the error after the table).
    pub class: Option<usize>,
    pub logits: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_class: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_logits: Option<Vec<i64>>,
}

/// The results one per line: a table, or CSV (`file,class,logit0,...` and the golden
/// model's `golden_class,golden_logit0,...` when checked).
pub fn print_results(results: &[ImageResult], csv: bool) {
    let checked = results.iter().any(|r| r.golden_class.is_some());
    let outputs = results
        .iter()
        .map(|r| {
            r.logits
                .len()
                .max(r.golden_logits.as_ref().map_or(0, Vec::len))
        })
        .max()
        .unwrap_or(0);
    let class = |c: Option<usize>| c.map_or(String::new(), |c| c.to_string());
    if csv {
        let mut header = vec!["file".to_string(), "class".to_string()];
        header.extend((0..outputs).map(|i| format!("logit{i}")));
        if checked {
            header.push("golden_class".into());
            header.extend((0..outputs).map(|i| format!("golden_logit{i}")));
        }
        println!("{}", header.join(","));
        for r in results {
            // RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
            let file = if r.file.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", r.file.replace('"', "\"\""))
            } else {
                r.file.clone()
            };
            let mut row = vec![file, class(r.class)];
            let cells = |logits: &[i64]| -> Vec<String> {
                (0..outputs)
                    .map(|i| logits.get(i).map_or(String::new(), i64::to_string))
                    .collect()
            };
            row.extend(cells(&r.logits));
            if checked {
                row.push(class(r.golden_class));
                row.extend(cells(r.golden_logits.as_deref().unwrap_or_default()));
            }
            println!("{}", row.join(","));
        }
        return;
    }
    let width = results
        .iter()
        .map(|r| r.file.len())
        .max()
        .unwrap_or(4)
        .max(4);
    match checked {
        true => println!("{:<width$}  class  golden  logits", "file"),
        false => println!("{:<width$}  class  logits", "file"),
    }
    for r in results {
        let logits: Vec<String> = r.logits.iter().map(i64::to_string).collect();
        let c = r.class.map_or("-".to_string(), |c| c.to_string());
        match checked {
            true => println!(
                "{:<width$}  {c:>5}  {:>6}  {}",
                r.file,
                class(r.golden_class),
                logits.join(" ")
            ),
            false => println!("{:<width$}  {c:>5}  {}", r.file, logits.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnist() -> InputEncoding {
        InputEncoding {
            width: 28,
            height: 28,
            channels: 1,
            bits: 8,
            max_value: 255,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fs-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn colour_becomes_luma_and_the_range_follows_the_model() {
        let path = temp("colour.png");
        let mut rgb = image::RgbImage::new(28, 28);
        rgb.put_pixel(3, 1, image::Rgb([255, 255, 255]));
        rgb.put_pixel(4, 1, image::Rgb([0, 255, 0]));
        rgb.save(&path).unwrap();
        let got = load(std::slice::from_ref(&path), &mnist()).unwrap();
        assert_eq!(got.len(), 1);
        let p = &got[0].pixels;
        assert_eq!((p[28 + 3], p[28 + 4], p[0]), (255, 182, 0)); // green: 0.7152 of white
        let three = mnist().with_bits(3).unwrap();
        let p = &load(&[path], &three).unwrap()[0].pixels;
        assert_eq!((p[28 + 3], p[28 + 4]), (7, 5));
    }

    #[test]
    fn another_size_is_refused_by_name() {
        let path = temp("big.png");
        image::GrayImage::new(32, 28).save(&path).unwrap();
        let e = load(std::slice::from_ref(&path), &mnist())
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.png") && e.contains("32x28"), "{e}");
    }

    #[test]
    fn arrays_of_every_shape_and_kind() {
        let stack =
            ndarray::Array3::<u8>::from_shape_fn((3, 28, 28), |(n, y, x)| (n * 50 + y + x) as u8);
        let path = temp("stack.npy");
        ndarray_npy::write_npy(&path, &stack).unwrap();
        let got = load(std::slice::from_ref(&path), &mnist()).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[2].name.ends_with("stack.npy[2]"));
        assert_eq!(got[2].pixels[..], stack.as_slice().unwrap()[2 * 784..]);
        let floats = stack
            .mapv(|v| f32::from(v) / 255.0)
            .into_shape_with_order((3, 784));
        let path = temp("flat.npy");
        ndarray_npy::write_npy(&path, &floats.unwrap()).unwrap();
        let flat = load(std::slice::from_ref(&path), &mnist()).unwrap();
        assert_eq!(
            flat.iter().map(|i| &i.pixels).collect::<Vec<_>>(),
            got.iter().map(|i| &i.pixels).collect::<Vec<_>>()
        );
        let path = temp("wrong.npy");
        ndarray_npy::write_npy(&path, &ndarray::Array2::<u8>::zeros((27, 28))).unwrap();
        let e = load(&[path], &mnist()).unwrap_err().to_string();
        assert!(e.contains("[27, 28]") && e.contains("(N, 784)"), "{e}");
        let path = temp("hot.npy");
        ndarray_npy::write_npy(&path, &ndarray::Array2::<f32>::from_elem((28, 28), 2.0)).unwrap();
        let e = load(&[path], &mnist()).unwrap_err().to_string();
        assert!(e.contains("0..=1"), "{e}");
    }

    #[test]
    fn folders_give_their_images_in_name_order_and_bad_files_are_named() {
        let dir = temp("folder");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, level) in [("b.png", 9u8), ("a.pgm", 4)] {
            image::GrayImage::from_pixel(28, 28, image::Luma([level]))
                .save(dir.join(name))
                .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        let got = load(std::slice::from_ref(&dir), &mnist()).unwrap();
        let firsts: Vec<u8> = got.iter().map(|i| i.pixels[0]).collect();
        assert_eq!(firsts, vec![4, 9]);
        let broken = temp("broken.png");
        std::fs::write(&broken, b"\x89PNG truncated").unwrap();
        let e = format!("{:#}", load(&[broken], &mnist()).unwrap_err());
        assert!(
            e.contains("broken.png") && e.contains("not a readable image"),
            "{e}"
        );
        let e = load(&[temp("missing.png")], &mnist())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
        let empty = temp("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(
            load(&[empty], &mnist())
                .unwrap_err()
                .to_string()
                .contains("no image files")
        );
    }
}
