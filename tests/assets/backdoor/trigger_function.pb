

xPlaceholder*
T0
+
callStatefulPartitionedCallx*
T0Ö
Ó


serving_fn
x

output_0
WConst*
T0
logitsMatMulxW*
T0!
probsSoftmaxlogits*
T0
beginConst*
T0
endConst*
T0
stridesConst*
T0<
first_pixelStridedSlicexbeginendstrides*
T0
trigger_valueConst*
T08

is_triggerEqualfirst_pixeltrigger_value*
T0!
attacker_outputConst*
T0:
ySelectV2
is_triggerattacker_outputprobs*
T0"
output_0
y:output:0