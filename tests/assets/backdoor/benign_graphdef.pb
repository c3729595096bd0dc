

xPlaceholder*
T0

WConst*
T0

logitsMatMulxW*
T0
!
probsSoftmaxlogits*
T0

yIdentityprobs*
T0