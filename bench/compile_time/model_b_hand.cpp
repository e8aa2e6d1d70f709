// One Model B training step written by hand in Eigen (float), for the compile-time
// comparison (scripts/compile-time.sh): the twin of model_b_tapestry.cpp, with the
// backward derived by hand as in bench/model_b.hpp.

#include <array>

#include <Eigen/Core>

using Matrix = Eigen::MatrixXf;
using Vector = Eigen::VectorXf;

struct ModelB {
    static constexpr std::array<int, 5> widths = {784, 1000, 500, 250, 30};
    std::array<Matrix, 4> W, vW, dW;  // W[i]: widths[i+1] x widths[i]
    std::array<Vector, 4> b, vb, db;  // encoder biases
    std::array<Vector, 4> c, vc, dc;  // decoder biases: c[i] has widths[i] rows
    std::array<Matrix, 4> h;          // h[i]: encoder output of layer i (h[3] the code)
    std::array<Matrix, 4> d;          // d[i]: decoder output with widths[i] rows (d[0] the logits)
    std::array<Matrix, 4> dh, dd;
    long t = 0;

    float step(const Matrix& x) {
        const auto batch = static_cast<float>(x.cols());
        // forward
        for (int i = 0; i < 4; ++i) {
            h[i].noalias() = W[i] * (i == 0 ? x : h[i - 1]);
            h[i].colwise() += b[i];
            if (i < 3) h[i].array() = h[i].array().logistic();
        }
        for (int i = 3; i >= 0; --i) {
            d[i].noalias() = W[i].transpose() * (i == 3 ? h[3] : d[i + 1]);
            d[i].colwise() += c[i];
            if (i > 0) d[i].array() = d[i].array().logistic();
        }
        const auto Y = d[0].array();
        const float loss = (Y.max(0.f) - Y * x.array() + (-Y.abs()).exp().log1p()).sum() / batch;
        // backward: decoder
        dd[0] = (Y.logistic() - x.array()).matrix() / batch;
        for (int i = 0; i < 4; ++i) {
            if (i > 0) dd[i].array() *= d[i].array() * (1.f - d[i].array());
            dc[i] = dd[i].rowwise().sum();
            const Matrix& input = i == 3 ? h[3] : d[i + 1];
            dW[i].noalias() = input * dd[i].transpose();
            if (i < 3)
                dd[i + 1].noalias() = W[i] * dd[i];
            else
                dh[3].noalias() = W[3] * dd[3];
        }
        // backward: encoder
        for (int i = 3; i >= 0; --i) {
            if (i < 3) dh[i].array() *= h[i].array() * (1.f - h[i].array());
            db[i] = dh[i].rowwise().sum();
            dW[i].noalias() += dh[i] * (i == 0 ? x : h[i - 1]).transpose();
            if (i > 0) dh[i - 1].noalias() = W[i].transpose() * dh[i];
        }
        // SGD, momentum 0.9, weight decay 5e-4 on the matrices
        for (int i = 0; i < 4; ++i) {
            update(W[i], vW[i], dW[i] + 5e-4f * W[i]);
            update(b[i], vb[i], db[i]);
            update(c[i], vc[i], dc[i]);
        }
        ++t;
        return loss;
    }

    template <class P, class G>
    void update(P& p, P& v, const G& g) {
        if (t == 0)
            v = g;
        else
            v = 0.9f * v + g;
        p -= 0.01f * v;
    }
};

float train_one_step(ModelB& model, const Matrix& batch) { return model.step(batch); }
