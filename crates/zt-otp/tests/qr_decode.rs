//! The SVG as served, rendered by an independent SVG renderer (resvg) and
//! read back by an independent QR decoder (rqrr), gives the exact URI.

use zt_otp::{otpauth_uri, qr_svg, TotpSecret};

/// Renders `svg` at `scale` × its own size and decodes every QR code found.
fn render_and_decode(svg: &str, scale: f32) -> Vec<String> {
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("parses");
    let size = tree.size().to_int_size();
    let (w, h) = (
        (size.width() as f32 * scale).round() as u32,
        (size.height() as f32 * scale).round() as u32,
    );
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).expect("pixmap");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let (w, h) = (w as usize, h as usize);
    let data = pixmap.data();
    // Every pixel must have been painted opaque (white background rect).
    assert!(data.chunks(4).all(|px| px[3] == 255), "transparent pixels");
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let i = (y * w + x) * 4;
        // Opaque, so the premultiplied RGB is the colour itself.
        ((u16::from(data[i]) + u16::from(data[i + 1]) + u16::from(data[i + 2])) / 3) as u8
    });
    image
        .detect_grids()
        .iter()
        .map(|grid| grid.decode().expect("decodes").1)
        .collect()
}

#[test]
fn svg_renders_at_240_px_and_decodes_to_the_exact_uri() {
    let secret = TotpSecret::generate();
    let uri = otpauth_uri("政通", "张三@zhengtong.gov.cn", &secret);
    let svg = qr_svg(&uri).expect("svg");
    let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).expect("parses");
    assert_eq!(tree.size().to_int_size().width(), 240);
    assert_eq!(tree.size().to_int_size().height(), 240);
    assert_eq!(render_and_decode(&svg, 1.0), vec![uri]);
}

#[test]
fn svg_decodes_at_other_scales() {
    let secret = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").expect("secret");
    let uri = otpauth_uri("政通", "user-42", &secret);
    let svg = qr_svg(&uri).expect("svg");
    for scale in [0.75, 1.5, 2.0] {
        assert_eq!(
            render_and_decode(&svg, scale),
            vec![uri.clone()],
            "scale {scale}"
        );
    }
}

#[test]
fn long_chinese_account_still_decodes() {
    let secret = TotpSecret::generate();
    let account = "北京市朝阳区政务服务中心综合窗口工作人员王小明";
    let uri = otpauth_uri("政通", account, &secret);
    let svg = qr_svg(&uri).expect("svg");
    assert_eq!(render_and_decode(&svg, 1.0), vec![uri]);
}
