fn main() {
    println!("${{ values.name }}");
}
