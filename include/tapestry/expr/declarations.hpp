#pragma once
// The expression node templates, declared: for code that is specialised on them (a
// backward walk, a second-order form) without needing their definitions first.

namespace tapestry {

template <class Op, class Inner>
class UnaryExpr;
template <class Op, class Left, class Right>
class BinaryExpr;
template <class Mask, class Left, class Right>
class SelectExpr;
template <class T, int R, int C>
class FilledExpr;
template <class Inner, bool RepeatRows, bool RepeatCols, int ResultRows, int ResultCols>
class BroadcastExpr;

}  // namespace tapestry
