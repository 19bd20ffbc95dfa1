Y nadie tomará de ti piedra para esquina, ni piedra para cimiento; porque perpetuos asolamientos serás, ha dicho Jehová.
Y Jeremías les dijo: Diréis así á Sedechîas:
El que encubre sus pecados, no prosperará: mas el que los confiesa y se aparta, alcanzará misericordia.
Porque cualquiera que hiciere la voluntad de Dios, éste es mi hermano, y mi hermana, y mi madre.
Ciertamente las muchas palabras multiplican la vanidad. ¿Qué más tiene el hombre?
Con todo eso los altos no se quitaron; que aun sacrificaba y quemaba el pueblo perfumes en los altos.
Cuando los impíos son muchos, mucha es la prevaricación; mas los justos verán la ruina de ellos.
Mas vosotros al Santo y al Justo negasteis, y pedisteis que se os diese un homicida;
Y no llegarás á la mujer en el apartamiento de su inmundicia, para descubrir su desnudez.
Lo demás de los hechos de Manasés, y su oración á su Dios, y las palabras de los videntes que le hablaron en nombre de Jehová el Dios de Israel, he aquí todo está escrito en los hechos de los reyes de Israel.
Entonces dió voces, diciendo: Jesús, Hijo de David, ten misericordia de mí.
Hablará mi lengua tus dichos; porque todos tus mandamientos son justicia.
Mas vuestros ojos han visto todos los grandes hechos que Jehová ha ejecutado.
Antes del quebrantamiento se eleva el corazón del hombre, y antes de la honra es el abatimiento.
Pídeme, y te daré por heredad las gentes, y por posesión tuya los términos de la tierra.
Quebróme los dientes con cascajo, cubrióme de ceniza.
Despertáronle á celos con los dioses ajenos; ensañáronle con abominaciones.
Tornaos á la fortaleza, oh presos de esperanza: hoy también os anuncio que os daré doblado.
Los hijos de Barcos, los hijos de Sisera, los hijos de Thema;
Entonces les soltó á Barrabás: y habiendo azotado á Jesús, le entregó para ser crucificado.
