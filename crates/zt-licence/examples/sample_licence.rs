//! Writes a sample licence PDF: `cargo run -p zt-licence --example sample_licence -- out.pdf`.

use chrono::NaiveDate;
use zt_licence::licence::{HolderKind, LicenceData, Validity};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "licence.pdf".to_owned());
    let data = LicenceData {
        item_name: "食品经营许可证".to_owned(),
        holder_kind: HolderKind::Organisation,
        holder: "江州市赣味餐饮管理有限公司".to_owned(),
        holder_id: "91360400MA35X8K27Q".to_owned(),
        licence_no: "JY13604000012345".to_owned(),
        validity: Validity::Period {
            from: NaiveDate::from_ymd_opt(2026, 11, 24).ok_or("date")?,
            to: NaiveDate::from_ymd_opt(2031, 11, 23).ok_or("date")?,
        },
        issuing_department: "江州市行政审批局".to_owned(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 24).ok_or("date")?,
        details: vec![
            ("法定代表人".to_owned(), "李建国".to_owned()),
            ("住所".to_owned(), "江西省江州市浔阳区庐山南路188号3栋101室".to_owned()),
            ("经营场所".to_owned(), "江州市浔阳区庐山南路188号".to_owned()),
            ("主体业态".to_owned(), "餐饮服务经营者（中型餐馆）".to_owned()),
            ("经营项目".to_owned(), "热食类食品制售；冷食类食品制售；生食类食品制售（限生食类水产品）；糕点类食品制售（含裱花蛋糕）；自制饮品制售（不含自酿酒）".to_owned()),
        ],
        verify_url: "https://zwfw.example.gov.cn/verify/JY13604000012345".to_owned(),
    };
    let pdf = zt_licence::render(&data)?;
    std::fs::write(&out, &pdf)?;
    println!("{out}: {} bytes", pdf.len());
    Ok(())
}
