#pragma once
// Grayscale tile grids written as PNG with stb_image_write (Debian's libstb-dev).

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <stb/stb_image_write.h>

#include <tapestry/core/eigen.hpp>

namespace examples {

// Writes the columns of `tiles` (each a side x side image, row-major, values in
// [lo, hi] or normalised per tile if `per_tile`) as a grid `columns` wide, with a
// 1-pixel gap, each pixel drawn `scale` x `scale`.
inline void write_tile_grid(const std::string& path, const Eigen::MatrixXf& tiles, int side, int columns, bool per_tile,
                            int scale = 2) {
    const int count = static_cast<int>(tiles.cols());
    const int rows = (count + columns - 1) / columns;
    const int cell = side * scale + 1;
    const int width = columns * cell + 1, height = rows * cell + 1;
    std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 64);
    for (int t = 0; t < count; ++t) {
        const auto tile = tiles.col(t);
        float lo = 0.0f, hi = 1.0f;
        if (per_tile) {
            lo = tile.minCoeff();
            hi = std::max(tile.maxCoeff(), lo + 1e-12f);
        }
        const int x0 = (t % columns) * cell + 1, y0 = (t / columns) * cell + 1;
        for (int y = 0; y < side * scale; ++y)
            for (int x = 0; x < side * scale; ++x) {
                const float v = (tile((y / scale) * side + x / scale) - lo) / (hi - lo);
                pixels[static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(width) +
                       static_cast<std::size_t>(x0 + x)] =
                    static_cast<unsigned char>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
            }
    }
    if (stbi_write_png(path.c_str(), width, height, 1, pixels.data(), width) == 0)
        throw std::runtime_error(path + ": cannot write the PNG");
}

}  // namespace examples
