fn main() {
    let f = std::fs::File::open("/work/shared/data/odds/29_Pima.npz").unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    for i in 0..z.len() { let e = z.by_index(i).unwrap(); println!("{} {}", e.name(), e.size()); }
}
