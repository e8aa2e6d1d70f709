#pragma once
// Loads Fashion-MNIST from Debian's dataset-fashion-mnist package (or --data DIR),
// with a message that says what to install when it is missing.

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <tapestry/io/idx.hpp>

namespace examples {

inline const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

struct FashionMnist {
    Eigen::MatrixXf train_images, test_images;  // 784 x N, in [0, 1]
    std::vector<int> train_labels, test_labels;
};

// `limit` > 0 keeps only the first `limit` training and test examples (quick runs).
inline FashionMnist load_fashion_mnist(const std::string& dir, long limit = 0) {
    namespace fs = std::filesystem;
    auto file = [&](const std::string& stem) {
        for (const std::string& name : {stem + ".gz", stem})
            if (fs::exists(fs::path(dir) / name)) return (fs::path(dir) / name).string();
        throw std::runtime_error("Fashion-MNIST not found: " + dir + " has no " + stem +
                                 "[.gz]. Install Debian's "
                                 "dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or pass "
                                 "--data DIR");
    };
    FashionMnist d;
    d.train_images = tapestry::io::read_idx_images<float>(file("train-images-idx3-ubyte"));
    d.train_labels = tapestry::io::read_idx_labels(file("train-labels-idx1-ubyte"));
    d.test_images = tapestry::io::read_idx_images<float>(file("t10k-images-idx3-ubyte"));
    d.test_labels = tapestry::io::read_idx_labels(file("t10k-labels-idx1-ubyte"));
    if (static_cast<long>(d.train_labels.size()) != d.train_images.cols() ||
        static_cast<long>(d.test_labels.size()) != d.test_images.cols())
        throw std::runtime_error(dir + ": the image and label files hold different numbers of examples");
    if (limit > 0) {
        const long train = std::min<long>(limit, d.train_images.cols()),
                   test = std::min<long>(limit, d.test_images.cols());
        d.train_images = d.train_images.leftCols(train).eval();
        d.test_images = d.test_images.leftCols(test).eval();
        d.train_labels.resize(static_cast<std::size_t>(train));
        d.test_labels.resize(static_cast<std::size_t>(test));
    }
    return d;
}

}  // namespace examples
