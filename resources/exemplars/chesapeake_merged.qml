<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<!-- Low2High class raster style (QGIS paletted renderer). Written next to every class raster
     Low2High makes, as <name>.qml, which QGIS loads as the layer's default style; the palette
     entries below are replaced by the raster's own classes. -->
<qgis version="3.22" styleCategories="AllStyleCategories">
  <customproperties>
    <Option type="Map">
      <Option type="QString" value="Value" name="identify/format"/>
    </Option>
  </customproperties>
  <pipe>
    <provider>
      <resampling maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" enabled="false" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer nodataColor="" alphaBand="-1" type="paletted" opacity="1" band="1">
      <colorPalette>
        <paletteEntry value="0" color="#2673de" alpha="255" label="water"/>
        <paletteEntry value="1" color="#1b7837" alpha="255" label="forest"/>
        <paletteEntry value="2" color="#b6dc6e" alpha="255" label="field"/>
        <paletteEntry value="3" color="#be463c" alpha="255" label="impervious"/>
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeRed="255" invertColors="0" colorizeBlue="128" colorizeStrength="100" colorizeGreen="128" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
